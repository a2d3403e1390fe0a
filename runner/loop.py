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
        metrics = experiment.evaluate(loader, split)
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
    epoch_means: RunningMeans,
    config: dict[str, Any],
    seed: int,
) -> None:
    """Train from ``position`` until the schedule's last step, checkpointing every epoch.

    Training metrics are logged as means over ``log_every`` steps (and over the rest of the
    epoch at its end), and as whole-epoch means (``train/epoch_<name>``) at each epoch end.
    Windows are flushed before every checkpoint, and the epoch's running sums are saved in
    it, so a resumed run logs exactly what an uninterrupted one would.
    """
    total_steps = schedule.total_steps(len(loaders.train))
    batches_per_epoch = len(loaders.train)
    figure_batch = next(iter(loaders.val))
    window = RunningMeans()
    window_start, window_samples = time.perf_counter(), 0

    def log_training(end_of_epoch: bool) -> None:
        nonlocal window_start, window_samples
        values = {f"train/{name}": value for name, value in window.pop().items()}
        if end_of_epoch:
            values |= {f"train/epoch_{name}": value for name, value in epoch_means.pop().items()}
        record = dict(values)
        if window_samples:
            speed = window_samples / (time.perf_counter() - window_start)
            record["perf/samples_per_s"] = speed
            progress.update(bar, speed=f"{speed:,.0f}")
        log.log(record, step=position.step, epoch=position.epoch)
        diverged = [name for name, value in values.items() if not math.isfinite(value)]
        if diverged:
            name = diverged[0]
            raise FloatingPointError(
                f"training diverged: {name} is {values[name]} at step {position.step}"
            )
        shown = "train/loss" if "train/loss" in values else next(iter(values), None)
        if shown is not None:  # the loss, or the experiment's first metric when it has no "loss"
            progress.update(
                bar, metric=f"{shown.removeprefix('train/')} {format_value(values[shown])}"
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
        value = log.latest.get(objective.metric)  # a val/ metric, or the latest train/ one
        if value is not None and objective.improves(value, best):
            best = value
            checkpoints.save_best(position, objective.metric, value, config)

    experiment.train()
    with training_progress() as progress:
        bar = progress.add_task(
            "train", total=total_steps, completed=position.step, metric="", speed="-"
        )
        while position.step < total_steps:
            for batch in loaders.train.batches(position.epoch, start=position.batch):
                metrics = experiment.training_step(batch, optimizers)
                window.add(metrics)
                epoch_means.add(metrics)
                position.step += 1
                position.batch += 1
                window_samples += len(batch[1])
                progress.advance(bar)
                if position.step % schedule.log_every == 0:
                    log_training(end_of_epoch=False)
                if position.step == total_steps:
                    break
            epoch_ended = position.batch == batches_per_epoch
            if epoch_ended:
                position.epoch += 1
                position.batch = 0
            if len(window) or epoch_ended:
                log_training(end_of_epoch=epoch_ended)
            if (
                epoch_ended and position.epoch % schedule.eval_every == 0
            ) or position.step == total_steps:
                validate()
            checkpoints.save_last(
                position,
                config=config,
                best=best,
                epoch_means=epoch_means.state(),
                **log.checkpoint_state(),
            )
            window_start, window_samples = time.perf_counter(), 0  # time training alone
    console.print()
