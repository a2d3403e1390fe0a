"""Metrics as series over steps, read from ``metrics.jsonl``, and their mean over seeds."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.files import as_number
from runner.metrics import read_metrics

NOT_PLOTTED = ("perf/",)  # wall-clock measurements: they describe the machine, not the model


@dataclass(frozen=True)
class Series:
    """One metric of one run: its values and the step and epoch each was logged at."""

    steps: tuple[int, ...]
    values: tuple[float, ...]
    epochs: tuple[int, ...]

    def at_epoch(self, epoch: int) -> float | None:
        """The last value logged at ``epoch`` (an epoch's mean is logged as it ends)."""
        found = [v for e, v in zip(self.epochs, self.values, strict=True) if e == epoch]
        return found[-1] if found else None

    @property
    def last(self) -> float:
        return self.values[-1]


def read_series(metrics_path: Path) -> dict[str, Series]:
    """Every plotted metric of a ``metrics.jsonl``, in the order they first appear."""
    points: dict[str, list[tuple[int, float, int]]] = {}
    for record in read_metrics(metrics_path):
        step, epoch = int(record.get("step", 0)), int(record.get("epoch", 0))
        for name, value in record.items():
            if name in ("step", "epoch") or name.startswith(NOT_PLOTTED):
                continue
            number = as_number(value)  # non-finite values are stored as "nan", "inf"
            points.setdefault(name, []).append(
                (step, math.nan if number is None else number, epoch)
            )
    return {
        name: Series(*(tuple(column) for column in zip(*values, strict=True)))
        for name, values in points.items()
    }


@dataclass(frozen=True)
class Band:
    """The mean of several runs' series at the steps all of them logged, with the standard
    deviation across the runs (0 for a single run)."""

    steps: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    runs: int


def mean_band(series: Sequence[Series]) -> Band:
    """The mean and spread over ``series``, one per seed, at their common steps."""
    by_step = [dict(zip(s.steps, s.values, strict=True)) for s in series]
    common = sorted(set(by_step[0]).intersection(*by_step[1:]))
    means, spreads = [], []
    for step in common:
        values = [run[step] for run in by_step]
        means.append(statistics.fmean(values))
        spreads.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return Band(tuple(common), tuple(means), tuple(spreads), len(series))
