"""Training metrics on their way out: averaged, logged, shown, and checked for divergence."""

import math
import time
from collections.abc import Callable
from typing import Any

from torch import Tensor

from experiments.base import Histogram
from runner.platform.startup import seconds_since_job_start
from runner.records.run_log import RunLog
from runner.training.means import RunningMeans
from runner.training.progress import TrainingProgress
from runner.training.state import TrainState


class TrainingLog:
    """Collects each step's metrics and logs them as one record per window of steps.

    A record holds the window's means (``train/<name>``), at an epoch end also the epoch's
    means (``train/epoch_<name>``), the learning rates of the moment (``train/lr``, with a
    schedule) and the window's throughput (``perf/samples_per_s``, training alone). The
    running sums of the window (``window``) and of the epoch live in the :class:`TrainState`,
    so that a checkpoint carries them.

    With ``first_step_compiles``, the session's first step, in which ``torch.compile``
    compiles, is timed on its own (``perf/compile_s``) and left out of the throughput. In a
    job started from the command line, the first record also gives the seconds from the
    job's start to the end of its first step (``perf/startup_s``, see runner.platform.startup).
    """

    def __init__(
        self,
        log: RunLog,
        progress: TrainingProgress,
        learning_rates: Callable[[], dict[str, float]],
        window: RunningMeans,
        first_step_compiles: bool = False,
    ) -> None:
        self.log = log
        self.progress = progress
        self.learning_rates = learning_rates
        self.compile_s: float | None = None
        self.startup_s: float | None = None
        self.first_step = True
        self.timing_first_step = first_step_compiles
        self.window = window
        self.restart_clock()

    def add(self, metrics: dict[str, Tensor], samples: int) -> None:
        self.window.add(metrics)
        self.progress.advance()
        if self.first_step:
            self.first_step = False
            self.startup_s = seconds_since_job_start()
        if self.timing_first_step:
            self.timing_first_step = False
            self.compile_s = time.perf_counter() - self.started
            self.restart_clock()
            return
        self.samples += samples

    def record_statistics(self, statistics: dict[str, Any], state: TrainState) -> None:
        """Log what an optimizer measured of this step (Adam's ``optim.record_every``) as it
        is, at this step: numbers as ``optim/<name>`` records, distributions to W&B."""
        if not statistics:
            return
        numbers = {f"optim/{k}": v for k, v in statistics.items() if not isinstance(v, Histogram)}
        histograms = {f"optim/{k}": v for k, v in statistics.items() if isinstance(v, Histogram)}
        self.log.log(numbers, step=state.step, epoch=state.epoch)
        self.log.log_histograms(histograms, step=state.step)

    @property
    def pending(self) -> int:
        """Steps collected since the last record."""
        return len(self.window)

    def restart_clock(self) -> None:
        """Time training from now on (what came before, such as a validation, is not training)."""
        self.samples = 0
        self.started = time.perf_counter()

    def flush(self, state: TrainState, end_of_epoch: bool) -> None:
        """Log the window (and the epoch's means when it ended); raise if training diverged."""
        values = {f"train/{name}": value for name, value in self.window.pop().items()}
        if end_of_epoch:
            epoch_means = state.epoch_means.pop()
            values |= {f"train/epoch_{name}": value for name, value in epoch_means.items()}
        values |= {f"train/{name}": rate for name, rate in self.learning_rates().items()}
        speed = self.samples / (time.perf_counter() - self.started) if self.samples else None
        timing = {} if speed is None else {"perf/samples_per_s": speed}
        if self.compile_s is not None:
            timing["perf/compile_s"], self.compile_s = self.compile_s, None
        if self.startup_s is not None:
            timing["perf/startup_s"], self.startup_s = self.startup_s, None
        self.log.log(values | timing, step=state.step, epoch=state.epoch)
        self.progress.show(values, speed)
        raise_if_diverged(values, state.step)
        self.restart_clock()


def raise_if_diverged(values: dict[str, float], step: int) -> None:
    """FloatingPointError naming the first metric that is NaN or infinite.

    It is raised after the record is written, so ``metrics.jsonl`` and ``summary.json`` show
    the value that ended the run.
    """
    for name, value in values.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"training diverged: {name} is {value} at step {step}")
