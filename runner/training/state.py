"""The state of a training run: everything a resume needs besides weights, optimizers and RNGs.

One object, passed to every step of the loop and saved whole in each checkpoint, so that a
run resumed from ``last.pt`` continues exactly where the uninterrupted run would have been.
"""

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from runner.training.means import RunningMeans


@dataclass
class TrainState:
    """Where training stands and what it has recorded so far.

    ``step`` training steps (batches) are done and batch ``batch`` of epoch ``epoch`` comes next
    (with the seeded per-epoch order this pins down the next batch exactly). ``best`` is the
    best objective at a validation so far; ``early_stop_best`` the best by more than
    ``trainer.early_stop.min_delta``, ``stale_validations`` the validations since it, and
    ``stopped_early`` whether they ran out (a resumed run then only tests); ``pruned``, whether
    the pruner of the Optuna search the run is a trial of stopped it. Then
    ``epoch_means`` and ``window_means``, the running sums of this epoch's training metrics and
    of those not yet logged (empty but for a checkpoint written on request, mid-window);
    ``metrics_bytes``, how much of ``metrics.jsonl`` belongs to the run, and
    ``metrics_sha256`` what those bytes hash to; ``wandb_run_id``, the W&B run it continues;
    and ``wall_time_s``, the time spent in earlier sessions. The last four are brought up to
    date when a checkpoint is written.
    """

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best: float | None = None
    early_stop_best: float | None = None
    stale_validations: int = 0
    stopped_early: bool = False
    pruned: bool = False
    epoch_means: RunningMeans = field(default_factory=RunningMeans)
    window_means: RunningMeans = field(default_factory=RunningMeans)
    metrics_bytes: int = 0
    metrics_sha256: str = ""
    wandb_run_id: str | None = None
    wall_time_s: float = 0.0

    @property
    def stopped(self) -> bool:
        """Whether training has ended before the plan's last step: stopped early, or pruned."""
        return self.stopped_early or self.pruned

    def record_step(self, metrics: dict[str, Tensor]) -> None:
        """One optimisation step on the next batch is done; ``metrics`` join the epoch's means."""
        self.step += 1
        self.batch += 1
        self.epoch_means.add(metrics)

    def end_epoch_if_complete(self, batches_per_epoch: int) -> bool:
        """Move on to the next epoch when the last batch of this one is done; say whether it was."""
        if self.batch < batches_per_epoch:
            return False
        self.epoch += 1
        self.batch = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers, strings and tensors: it loads with ``torch.load(weights_only=True)``."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "best": self.best,
            "early_stop_best": self.early_stop_best,
            "stale_validations": self.stale_validations,
            "stopped_early": self.stopped_early,
            "pruned": self.pruned,
            "epoch_means": self.epoch_means.state_dict(),
            "window_means": self.window_means.state_dict(),
            "metrics_bytes": self.metrics_bytes,
            "metrics_sha256": self.metrics_sha256,
            "wandb_run_id": self.wandb_run_id,
            "wall_time_s": self.wall_time_s,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.epoch, self.batch = state["step"], state["epoch"], state["batch"]
        self.best = state["best"]
        self.early_stop_best = state["early_stop_best"]
        self.stale_validations = state["stale_validations"]
        self.stopped_early = state["stopped_early"]
        self.pruned = state.get("pruned", False)  # not in checkpoints of earlier versions
        self.epoch_means.load_state_dict(state["epoch_means"])
        if (
            "window_means" in state
        ):  # checkpoints of earlier versions were all written between windows
            self.window_means.load_state_dict(state["window_means"])
        self.metrics_bytes = state["metrics_bytes"]
        self.metrics_sha256 = state.get(
            "metrics_sha256", ""
        )  # not in earlier versions' checkpoints
        self.wandb_run_id = state["wandb_run_id"]
        self.wall_time_s = state["wall_time_s"]
