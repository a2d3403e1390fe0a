"""The training loop, read top to bottom: train, log, validate, checkpoint, repeat."""

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer

from experiments.base import Experiment
from runner.checkpoint import Checkpointer, Position
from runner.console import console, format_value, training_progress
from runner.data import TensorLoader
from runner.errors import ConfigError
from runner.metrics import RunningMeans
from runner.run_log import RunLog


@dataclass(frozen=True)
class Schedule:
    """How long to train and how often to log and validate (the ``trainer`` settings)."""

    epochs: int
    max_steps: int | None
    eval_every: int
    log_every: int

    def total_steps(self, batches_per_epoch: int) -> int:
        """``max_steps`` when set, else whole epochs."""
        return self.max_steps if self.max_steps is not None else self.epochs * batches_per_epoch


@dataclass(frozen=True)
class Objective:
    """The metric a run is judged by (what sweepers optimise and ``best.pt`` keeps)."""

    metric: str
    mode: str

    def improves(self, value: float, best: float | None) -> bool:
        if math.isnan(value):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)


@dataclass(frozen=True)
class Loaders:
    train: TensorLoader
    val: TensorLoader
    test: TensorLoader


@contextmanager
def evaluation(experiment: Experiment, seed: int) -> Iterator[None]:
    """Eval mode, no gradients, and random numbers of evaluation's own.

    Evaluation draws from a generator seeded afresh each time and leaves the training
    generator as it found it, so stochastic metrics (sampled latents, generated images) are
    comparable from one evaluation to the next, and validating never changes training: a run
    resumed from a checkpoint continues exactly as if it had not stopped.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        experiment.eval()
        try:
            yield
        finally:
            experiment.train()


def evaluate(
    experiment: Experiment, loader: TensorLoader, split: str, seed: int
) -> dict[str, float]:
    """The experiment's metrics on a whole split, named ``<split>/<metric>``."""
    with evaluation(experiment, seed):
        metrics = experiment.evaluate(loader)
    return {f"{split}/{name}": value for name, value in metrics.items()}


def fit(
    experiment: Experiment,
    optimizers: dict[str, Optimizer],
    loaders: Loaders,
    schedule: Schedule,
    objective: Objective,
    log: RunLog,
    checkpoints: Checkpointer,
    position: Position,
    best: float | None,
    config: dict[str, Any],
    seed: int,
) -> None:
    """Train from ``position`` until the schedule's last step, checkpointing every epoch.

    Training metrics are averaged over ``log_every`` steps and flushed at every epoch end and
    before every checkpoint, so a resumed run logs exactly what an uninterrupted one would.
    """
    total_steps = schedule.total_steps(len(loaders.train))
    batches_per_epoch = len(loaders.train)
    figure_batch = next(iter(loaders.val))
    means = RunningMeans()
    window_start, window_samples = time.perf_counter(), 0

    def log_training() -> None:
        nonlocal window_start, window_samples
        speed = window_samples / (time.perf_counter() - window_start)
        values = {f"train/{name}": value for name, value in means.pop().items()}
        log.log({**values, "perf/samples_per_s": speed}, step=position.step, epoch=position.epoch)
        progress.update(
            bar, loss=format_value(values.get("train/loss", math.nan)), speed=f"{speed:,.0f}"
        )
        window_start, window_samples = time.perf_counter(), 0

    def validate() -> None:
        nonlocal best
        metrics = evaluate(experiment, loaders.val, "val", seed)
        log.log(metrics, step=position.step, epoch=position.epoch)
        with evaluation(experiment, seed):
            log.save_figures(experiment.figures(figure_batch), step=position.step)
        shown = "  ".join(f"{name} {format_value(value)}" for name, value in metrics.items())
        console.print(f"epoch {position.epoch}  step {position.step}  {shown}")
        if objective.metric.startswith("val/") and objective.metric not in metrics:
            raise ConfigError(
                f"objective.metric {objective.metric!r} is not measured; val metrics are: {', '.join(metrics)}"
            )
        value = metrics.get(objective.metric)
        if value is not None and objective.improves(value, best):
            best = value
            checkpoints.save_best(position, objective.metric, value, config)

    experiment.train()
    with training_progress() as progress:
        bar = progress.add_task(
            "train", total=total_steps, completed=position.step, loss="-", speed="-"
        )
        while position.step < total_steps:
            for batch in loaders.train.batches(position.epoch, start=position.batch):
                means.add(experiment.training_step(batch, optimizers))
                position.step += 1
                position.batch += 1
                window_samples += len(batch[1])
                progress.advance(bar)
                if position.step % schedule.log_every == 0:
                    log_training()
                if position.step == total_steps:
                    break
            if position.batch == batches_per_epoch:
                position.epoch += 1
                position.batch = 0
            if len(means):
                log_training()
            epoch_ended = position.batch == 0
            if (
                epoch_ended and position.epoch % schedule.eval_every == 0
            ) or position.step == total_steps:
                validate()
            checkpoints.save_last(position, best=best, **log.checkpoint_state())
    console.print()
