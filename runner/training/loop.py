"""The training loop, read top to bottom: train an epoch, log, validate, checkpoint, repeat."""

import math
from dataclasses import dataclass
from typing import Protocol

from experiments.base import Experiment
from runner.data.loader import Loaders
from runner.platform.console import Display, console, format_value
from runner.platform.stopping import REQUESTS, Stopped
from runner.records.run_log import RunLog
from runner.training.checkpoint import Checkpointer
from runner.training.evaluation import evaluate, make_figures, make_line_plots
from runner.training.objective import Objective
from runner.training.progress import TrainingProgress
from runner.training.settings import TrainerSettings
from runner.training.state import TrainState
from runner.training.step import StepService
from runner.training.training_log import TrainingLog


@dataclass(frozen=True)
class TrainingPlan:
    """What the loop reads of the ``trainer`` settings (how long to train; how often to log,
    validate and checkpoint; when to stop early; whether the first step compiles), and the
    seed every evaluation draws its random numbers from (the run's ``seed``)."""

    epochs: int
    max_steps: int | None
    eval_every: int
    log_every: int
    seed: int
    checkpoint_every: int = 1
    patience: int | None = None
    min_delta: float = 0.0
    compile: bool = False

    @classmethod
    def of(cls, trainer: TrainerSettings, seed: int) -> "TrainingPlan":
        return cls(
            trainer.epochs, trainer.max_steps, trainer.eval_every, trainer.log_every, seed,
            trainer.checkpoint_every, trainer.early_stop.patience, trainer.early_stop.min_delta,
            trainer.compile,
        )  # fmt: skip

    def total_steps(self, batches_per_epoch: int) -> int:
        """``max_steps`` when set, else whole epochs."""
        return self.max_steps if self.max_steps is not None else self.epochs * batches_per_epoch

    def validates(self, epoch_ended: bool, epoch: int, last_step: bool) -> bool:
        return (epoch_ended and epoch % self.eval_every == 0) or last_step

    def checkpoints(self, epoch_ended: bool, epoch: int) -> bool:
        return epoch_ended and epoch % self.checkpoint_every == 0


class Pruning(Protocol):
    """The trial of an Optuna search that a run is (:mod:`runner.search.trial`)."""

    def should_prune(self, value: float, epoch: int) -> bool:
        """Report the objective's ``value`` at ``epoch``; whether the study stops the trial."""
        ...


@dataclass
class Training:
    """What the loop trains: the experiment and the service that takes its steps, its data,
    the plan, the objective, its checkpoints, and the pruning of the search trial the run
    is, if it is one."""

    experiment: Experiment
    steps: StepService
    loaders: Loaders
    plan: TrainingPlan
    objective: Objective
    checkpoints: Checkpointer
    pruning: Pruning | None = None

    @property
    def total_steps(self) -> int:
        return self.plan.total_steps(len(self.loaders.train))


def fit(training: Training, log: RunLog, state: TrainState) -> str:
    """Train from ``state`` to the plan's last step, or until early stopping or pruning,
    recording in ``log``; return why it stopped (``"end_of_schedule"``, ``"early_stop"`` or ``"pruned"``)::

        until the last step:
            train to the end of the epoch (or the last step), logging every log_every steps
            log the rest of the window, and the epoch's means when the epoch ended
            validate every eval_every epochs and at the last step: keep the best weights,
                step a plateau schedule, count validations without improvement, and
                report to the search's trial, which may prune the run
            checkpoint every checkpoint_every epochs, at the last step and when stopping early
            checkpoint when asked to from outside (runner.platform.stopping), and stop if asked to

    The running sums of the log window and of the epoch are part of ``state``, so a run
    resumed from any checkpoint, even one written mid-window, logs exactly what an
    uninterrupted one would.
    """
    training.experiment.train()
    with TrainingProgress(training.total_steps, state.step) as progress:
        training_log = TrainingLog(
            log, progress, training.steps.learning_rates, state.window_means,
            training.plan.compile,
        )  # fmt: skip
        while state.step < training.total_steps and not state.stopped:
            train_until_epoch_end(training, log, state, training_log)
            training_log.restart_clock()
    if state.pruned:
        return "pruned"
    return "early_stop" if state.stopped_early else "end_of_schedule"


def train_until_epoch_end(
    training: Training, log: RunLog, state: TrainState, training_log: TrainingLog
) -> None:
    """One pass of :func:`fit`'s loop: train to the epoch's end (or the last step, or a
    request from outside), then log, validate and checkpoint as the plan says."""
    plan = training.plan
    requested, stopped_by = train_epoch(training, state, training_log)
    epoch_ended = state.end_epoch_if_complete(len(training.loaders.train))
    last_step = state.step == training.total_steps
    if epoch_ended or (last_step and training_log.pending):
        training_log.flush(state, end_of_epoch=epoch_ended)
    if plan.validates(epoch_ended, state.epoch, last_step):
        value = validate(training, log, state)
        if value is not None:
            after_validation(value, training, state)
    if requested or state.stopped or last_step or plan.checkpoints(epoch_ended, state.epoch):
        save_last(training.checkpoints, log, state)
    if stopped_by and not (last_step or state.stopped):
        raise Stopped(f"stopped by {stopped_by} at step {state.step}, after writing last.pt")


def train_epoch(
    training: Training, state: TrainState, training_log: TrainingLog
) -> tuple[bool, str | None]:
    """Train on the epoch's remaining batches, up to the plan's last step, or until a request
    from outside comes; return whether one came (to checkpoint), and the signal that asked
    to stop after it.

    With several processes, each trains on its part of every batch, and the step's metrics
    are averaged over the processes, so every process records the same run.
    """
    experiment, steps, plan = training.experiment, training.steps, training.plan
    processes = steps.processes
    for batch in training.loaders.train.batches(state.epoch, start=state.batch):
        with steps.batch():
            metrics = experiment.training_step(batch, steps.optimizers)
        metrics = processes.average_metrics(metrics) | steps.pop_gradient_norms()
        state.record_step(metrics)
        training_log.add(metrics, samples=len(batch[1]) * processes.count)
        training_log.record_statistics(steps.pop_optimizer_statistics(), state)
        at_log_boundary = state.step % plan.log_every == 0
        if at_log_boundary:
            training_log.flush(state, end_of_epoch=False)
        requested, stopped_by = REQUESTS.due(processes, at_log_boundary)
        if requested or state.step == training.total_steps:
            return requested, stopped_by
    return False, None


def validate(training: Training, log: RunLog, state: TrainState) -> float | None:
    """Evaluate on the validation split, save the figures, and keep the weights if they are
    the best so far on the objective; return the objective's value (a ``val/`` metric, or the
    latest ``train/`` one; None before the first training record of a ``train/`` one)."""
    experiment, loader = training.experiment, training.loaders.val
    seed = training.plan.seed
    metrics = evaluate(experiment, loader, "val", seed)
    log.log(metrics, step=state.step, epoch=state.epoch)
    if log.writes:
        log.save_figures(make_figures(experiment, next(iter(loader)), seed), step=state.step)
        log.save_line_plots(make_line_plots(experiment, seed))
    shown = "  ".join(f"{name} {format_value(value)}" for name, value in metrics.items())
    if Display.detailed:
        console.print(f"epoch {state.epoch}  step {state.step}  {shown}")
    objective = training.objective
    value = log.latest.get(objective.metric)
    if value is not None and objective.improves(value, state.best):
        state.best = value
        training.checkpoints.save_best(state, objective.metric, value)
    return value


def after_validation(value: float, training: Training, state: TrainState) -> None:
    """Step a plateau schedule on the objective, count validations without improvement
    toward early stopping, and report to the search's trial, which may prune the run."""
    training.steps.observe_objective(value)
    count_toward_early_stop(value, training.objective, training.plan, state)
    if training.pruning is not None:
        ask_pruner(training, value, state)


def count_toward_early_stop(
    value: float, objective: Objective, plan: TrainingPlan, state: TrainState
) -> None:
    """Count validations without an improvement of more than ``min_delta``; once
    ``patience`` of them have passed, stop early."""
    if plan.patience is None:
        return
    if objective.improves(value, state.early_stop_best, margin=plan.min_delta):
        state.early_stop_best, state.stale_validations = value, 0
        return
    state.stale_validations += 1
    if state.stale_validations >= plan.patience:
        state.stopped_early = True
        console.print(
            f"stopping early: {objective.metric} has not improved by more than "
            f"{plan.min_delta} in {plan.patience} validations"
        )


def ask_pruner(training: Training, value: float, state: TrainState) -> None:
    """Report the validation to the search's trial at the epoch it falls in (pruners compare
    trials epoch by epoch, whatever their batch size), and stop if the pruner says so. Rank 0
    asks; every rank follows its answer."""
    assert training.pruning is not None
    epoch = math.ceil(state.step / len(training.loaders.train))
    [pruned] = training.steps.processes.any_of([training.pruning.should_prune(value, epoch)])
    if pruned and not state.stopped_early:
        state.pruned = True
        console.print(
            f"pruned: the search's pruner stops this trial at epoch {epoch} "
            f"({training.objective.metric} {format_value(value)})"
        )


def save_last(checkpoints: Checkpointer, log: RunLog, state: TrainState) -> None:
    """Bring the state's record of the log up to date, and write ``last.pt``."""
    state.metrics_bytes = log.bytes_written()
    state.metrics_sha256 = log.metrics_digest()
    state.wall_time_s = log.wall_time()
    checkpoints.save_last(state)
