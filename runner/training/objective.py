"""The metric a run is judged by: what sweepers optimise and what ``best.pt`` keeps."""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.platform.checks import check_choice
from runner.platform.errors import ConfigError

if TYPE_CHECKING:  # the objective is checked before torch loads
    from experiments.base import Experiment

JUDGED_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Objective:
    """``metric`` (``<split>/<name>``) and whether higher (``max``) or lower (``min``) is better."""

    metric: str
    mode: str

    def improves(self, value: float, best: float | None, margin: float = 0.0) -> bool:
        """Whether ``value`` beats ``best`` by more than ``margin`` (any first value does)."""
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value > best + margin if self.mode == "max" else value < best - margin

    def check_measured_by(
        self,
        experiment: "Experiment",
        setting: str = "objective.metric",
        figures: tuple[str, ...] = (),
    ) -> None:
        """Raise :class:`ConfigError` unless ``experiment`` declares the metric (or it is one
        of the run's ``figures``), so that a typo fails before training rather than after it;
        ``setting`` is where the metric was named.

        Training metrics are also logged as whole-epoch means, ``train/epoch_<name>``.
        """
        measured = [
            f"{split}/{name}" for split in ("val", "test", "train")
            for name in experiment.metric_names(split)
        ]  # fmt: skip
        measured += [f"train/epoch_{name}" for name in experiment.metric_names("train")]
        measured += list(figures)
        if self.metric not in measured:
            raise ConfigError(
                f"{setting} {self.metric!r} is not measured by this model; "
                f"it measures {', '.join(measured)}"
            )

    def value_in(self, metrics: dict[str, float]) -> float:
        """The objective's value among a run's final metrics."""
        if self.metric not in metrics:
            measured = ", ".join(sorted(metrics))
            raise ConfigError(
                f"objective.metric {self.metric!r} was not measured; measured: {measured}"
            )
        return metrics[self.metric]


def objective_setting(metric: Any, mode: Any) -> Objective:
    """The ``objective`` section, checked: a ``train/``, ``val/`` or ``test/`` metric, and
    ``max`` or ``min``."""
    if not isinstance(metric, str) or metric.split("/")[0] not in JUDGED_SPLITS:
        raise ConfigError(
            "objective.metric must name a train/, val/ or test/ metric, such as val/acc; "
            f"got {metric!r}"
        )
    check_choice("objective.mode", mode, ("max", "min"))
    return Objective(metric, mode)
