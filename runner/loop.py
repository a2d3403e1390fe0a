"""The training loop, read top to bottom: train an epoch, log, validate, checkpoint, repeat."""

import math
from dataclasses import dataclass
from typing import Any, Protocol

from experiments.base import Experiment
from runner.checkpoint import Checkpointer
from runner.console import Display, TrainingProgress, console, format_value
from runner.data.loader import Loaders, TensorLoader
from runner.distributed import Processes
from runner.evaluation import evaluate, make_figures, make_line_plots
from runner.objective import Objective
from runner.run_log import RunLog
from runner.state import TrainState
from runner.step import StepService
from runner.stopping import REQUESTS, Stopped
from runner.training_log import TrainingLog


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
    def from_config(cls, config: dict[str, Any]) -> "TrainingPlan":
        trainer = config["trainer"]
        return cls(
            trainer["epochs"], trainer["max_steps"], trainer["eval_every"], trainer["log_every"],
            config["seed"], trainer["checkpoint_every"], trainer["early_stop"]["patience"],
            trainer["early_stop"]["min_delta"], trainer["compile"],
        )  # fmt: skip

    def total_steps(self, batches_per_epoch: int) -> int:
        """``max_steps`` when set, else whole epochs."""
        return self.max_steps if self.max_steps is not None else self.epochs * batches_per_epoch


class Pruning(Protocol):
    """The trial of an Optuna search that a run is (:mod:`runner.search.trial`)."""

    def should_prune(self, value: float, epoch: int) -> bool:
        """Report the objective's ``value`` at ``epoch``; whether the study stops the trial."""
        ...


def fit(
    experiment: Experiment,
    steps: StepService,
    loaders: Loaders,
    plan: TrainingPlan,
    objective: Objective,
    log: RunLog,
    checkpoints: Checkpointer,
    state: TrainState,
    pruning: Pruning | None = None,
) -> str:
    """Train from ``state`` to the plan's last step, or until early stopping or pruning;
    return why it stopped (``"end_of_schedule"``, ``"early_stop"`` or ``"pruned"``)::

        until the last step:
            train to the end of the epoch (or the last step), logging every log_every steps
            log the rest of the window, and the epoch's means when the epoch ended
            validate every eval_every epochs and at the last step: keep the best weights,
                step a plateau schedule, count validations without improvement, and
                report to the search's trial, which may prune the run
            checkpoint every checkpoint_every epochs, at the last step and when stopping early
            checkpoint when asked to from outside (runner.stopping), and stop if asked to

    The running sums of the log window and of the epoch are part of ``state``, so a run
    resumed from any checkpoint, even one written mid-window, logs exactly what an
    uninterrupted one would.
    """
    total_steps = plan.total_steps(len(loaders.train))
    experiment.train()
    with TrainingProgress(total_steps, state.step) as progress:
        training_log = TrainingLog(
            log, progress, steps.learning_rates, state.window_means, plan.compile
        )
        while state.step < total_steps and not state.stopped:
            requested, stopped_by = train_epoch(
                experiment, steps, loaders.train, plan, state, training_log
            )
            epoch_ended = state.end_epoch_if_complete(len(loaders.train))
            last_step = state.step == total_steps
            if epoch_ended or (last_step and training_log.pending):
                training_log.flush(state, end_of_epoch=epoch_ended)
            if (epoch_ended and state.epoch % plan.eval_every == 0) or last_step:
                value = validate(
                    experiment, loaders.val, objective, plan.seed, log, checkpoints, state
                )
                if value is not None:
                    after_validation(value, steps, objective, plan, state)
                    if pruning is not None:
                        ask_pruner(
                            pruning, value, objective, state, len(loaders.train), steps.processes
                        )
            if (
                requested
                or state.stopped
                or last_step
                or (epoch_ended and state.epoch % plan.checkpoint_every == 0)
            ):
                save_last(checkpoints, log, state)
            if stopped_by and not (last_step or state.stopped):
                raise Stopped(
                    f"stopped by {stopped_by} at step {state.step}, after writing last.pt"
                )
            training_log.restart_clock()
    if state.pruned:
        return "pruned"
    return "early_stop" if state.stopped_early else "end_of_schedule"


def train_epoch(
    experiment: Experiment,
    steps: StepService,
    loader: TensorLoader,
    plan: TrainingPlan,
    state: TrainState,
    training_log: TrainingLog,
) -> tuple[bool, str | None]:
    """Train on the epoch's remaining batches, up to the plan's last step, or until a request
    from outside comes; return whether one came (to checkpoint), and the signal that asked
    to stop after it.

    With several processes, each trains on its part of every batch, and the step's metrics
    are averaged over the processes, so every process records the same run.
    """
    last_step = plan.total_steps(len(loader))
    processes = steps.processes
    for batch in loader.batches(state.epoch, start=state.batch):
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
        if requested or state.step == last_step:
            return requested, stopped_by
    return False, None


def validate(
    experiment: Experiment,
    loader: TensorLoader,
    objective: Objective,
    seed: int,
    log: RunLog,
    checkpoints: Checkpointer,
    state: TrainState,
) -> float | None:
    """Evaluate on the validation split, save the figures, and keep the weights if they are
    the best so far on the objective; return the objective's value (a ``val/`` metric, or the
    latest ``train/`` one; None before the first training record of a ``train/`` one)."""
    metrics = evaluate(experiment, loader, "val", seed)
    log.log(metrics, step=state.step, epoch=state.epoch)
    if log.writes:
        log.save_figures(make_figures(experiment, next(iter(loader)), seed), step=state.step)
        log.save_line_plots(make_line_plots(experiment, seed))
    shown = "  ".join(f"{name} {format_value(value)}" for name, value in metrics.items())
    if Display.detailed:
        console.print(f"epoch {state.epoch}  step {state.step}  {shown}")
    value = log.latest.get(objective.metric)
    if value is not None and objective.improves(value, state.best):
        state.best = value
        checkpoints.save_best(state, objective.metric, value)
    return value


def after_validation(
    value: float, steps: StepService, objective: Objective, plan: TrainingPlan, state: TrainState
) -> None:
    """Step a plateau schedule on the objective, and count validations without an improvement
    of more than ``min_delta``; once ``patience`` of them have passed, stop early."""
    steps.observe_objective(value)
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


def ask_pruner(
    pruning: Pruning,
    value: float,
    objective: Objective,
    state: TrainState,
    batches_per_epoch: int,
    processes: Processes,
) -> None:
    """Report the validation to the search's trial at the epoch it falls in (pruners compare
    trials epoch by epoch, whatever their batch size), and stop if the pruner says so. Rank 0
    asks; every rank follows its answer."""
    epoch = math.ceil(state.step / batches_per_epoch)
    [pruned] = processes.any_of([pruning.should_prune(value, epoch)])
    if pruned and not state.stopped_early:
        state.pruned = True
        console.print(
            f"pruned: the search's pruner stops this trial at epoch {epoch} "
            f"({objective.metric} {format_value(value)})"
        )


def save_last(checkpoints: Checkpointer, log: RunLog, state: TrainState) -> None:
    """Bring the state's record of the log up to date, and write ``last.pt``."""
    state.metrics_bytes = log.bytes_written()
    state.wall_time_s = log.wall_time()
    checkpoints.save_last(state)
