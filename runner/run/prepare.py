"""Preparing a run, writing nothing: the device, the checkpoint to resume, the data, the
experiment, its optimizers and their step service, all built and restored.

A run refused here for a bad setting or a damaged file leaves no trace in its directory.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from runner.data.loader import Loaders
from runner.data.pipeline import build_loaders
from runner.platform.console import console
from runner.platform.device import resolve_device, set_determinism
from runner.platform.distributed import Processes, seed_this_rank
from runner.platform.dynamo import use_dynamo
from runner.platform.errors import ConfigError
from runner.platform.settings import check_precision
from runner.run.build import (
    build,
    build_dataset,
    build_optimizer_factory,
    build_schedules,
    compile_modules,
)
from runner.run.resume import check_resumable, checkpoint_to_resume, completed_objective
from runner.run.settings import RunSettings
from runner.training.checkpoint import Checkpointer
from runner.training.loop import Pruning, Training, TrainingPlan
from runner.training.objective import Objective
from runner.training.state import TrainState
from runner.training.step import StepService, StepSettings

TRIAL_FIGURES = ("wall_time_s",)  # a search may optimise these of a run's summary, too


class SearchTrial(Protocol):
    """The trial of an Optuna search that a run is (:class:`runner.search.trial.TrialLink`):
    the metrics the search optimises, and the pruning it may stop the run with."""

    objectives: dict[str, str]

    def pruning(self, main: bool) -> Pruning | None: ...


@dataclass
class PreparedRun:
    """Everything built for a run, and its state: new, or restored from ``last.pt``."""

    run_dir: Path
    settings: RunSettings
    device: torch.device
    processes: Processes
    training: Training
    state: TrainState


def prepare(
    settings: RunSettings, run_dir: Path, processes: Processes, trial: SearchTrial | None
) -> PreparedRun | float:
    """The run, built and restored; or, when ``resume=true`` finds it already completed, its
    objective."""
    device = run_device(settings, processes)
    checkpoint = checkpoint_to_resume(run_dir, settings.resume)
    set_up_torch(settings)
    dataset = build_dataset(settings.cfg.data.dataset, settings.choices.get("data"))
    loaders = build_loaders(settings.data, dataset, settings.seed, device, processes)
    plan = TrainingPlan.of(settings.trainer, settings.seed)
    total_steps = plan.total_steps(len(loaders.train))
    check_accumulation(settings.trainer.accumulate, total_steps)
    if checkpoint is not None:
        check_resumable(checkpoint, settings.config, total_steps, len(loaders.train))
        completed = completed_objective(run_dir, total_steps)
        if completed is not None:
            console.print(f"{run_dir} already completed; nothing to resume")
            return completed
    training = build_training(settings, RunPlace(run_dir, device, processes), loaders, plan, trial)
    seed_this_rank(settings.seed, processes)
    state = TrainState()
    if checkpoint is not None:
        state = training.checkpoints.restore(checkpoint)
        console.print(f"resuming from {training.checkpoints.last} at step {state.step}")
    return PreparedRun(run_dir, settings, device, processes, training, state)


def run_device(settings: RunSettings, processes: Processes) -> torch.device:
    """The device this process trains on: each GPU rank of several on its own GPU."""
    device = resolve_device(settings.device.type)
    check_precision(settings.trainer.precision, device.type)
    if processes.several and device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
    return device


def set_up_torch(settings: RunSettings) -> None:
    """CPU threads, deterministic kernels, and the seed of everything built after this."""
    if settings.device.threads is not None:
        torch.set_num_threads(settings.device.threads)
    set_determinism(settings.device.deterministic)
    torch.manual_seed(settings.seed)


def check_accumulation(accumulate: int, total_steps: int) -> None:
    """An accumulation longer than the run would never step; a run that ends part-way through
    one leaves its last batches' gradients unused (said once, not refused)."""
    if accumulate > total_steps:
        raise ConfigError(
            f"trainer.accumulate ({accumulate}) is more than the run's {total_steps} batches: "
            "no optimizer would ever step"
        )
    if total_steps % accumulate:
        console.print(
            f"note: {total_steps} batches are not a whole number of trainer.accumulate={accumulate}; "
            f"the gradients of the last {total_steps % accumulate} are not stepped"
        )


@dataclass(frozen=True)
class RunPlace:
    """Where a run trains and writes: its directory, its device, and which of its processes
    this is."""

    run_dir: Path
    device: torch.device
    processes: Processes


def build_training(
    settings: RunSettings,
    place: RunPlace,
    loaders: Loaders,
    plan: TrainingPlan,
    trial: SearchTrial | None,
) -> Training:
    """The experiment, its optimizers, their schedules and step service, and its checkpoints;
    the objectives checked against what the experiment measures.

    Every process builds the same model from the run's seed; the caller then has each draw
    its own random numbers (:func:`runner.platform.distributed.seed_this_rank`).
    """
    cfg, trainer = settings.cfg, settings.trainer
    chosen = settings.choices
    experiment = build(cfg.model, "model", chosen.get("model")).to(place.device)
    experiment.see_training_images(loaders.train.data.images)
    use_dynamo(compiling=trainer.compile)
    make_optimizer = build_optimizer_factory(cfg.optim, chosen.get("optim"))
    optimizers = experiment.configure_optimizers(make_optimizer)
    optimisation_steps = plan.total_steps(len(loaders.train)) // trainer.accumulate  # >= 1
    schedules = build_schedules(
        cfg.schedule, optimizers, optimisation_steps, chosen.get("schedule")
    )
    steps = StepService(
        optimizers, StepSettings.of(trainer), place.device.type, schedules, place.processes
    )
    experiment.use_step_service(steps)
    if trainer.compile:
        compile_modules(experiment, trainer.compile_mode)
    check_objectives(settings.objective, trial, experiment)
    checkpoints = Checkpointer(
        place.run_dir / "checkpoints", experiment, steps, settings.config, place.processes
    )
    pruning = None if trial is None else trial.pruning(place.processes.main)
    return Training(experiment, steps, loaders, plan, settings.objective, checkpoints, pruning)


def check_objectives(objective: Objective, trial: SearchTrial | None, experiment: Any) -> None:
    """The run's objective, and a search's, must be measured by the experiment (or be a
    figure of the run's summary), so a typo fails before training rather than after it."""
    objective.check_measured_by(experiment)
    for metric in trial.objectives if trial is not None else ():
        Objective(metric, "max").check_measured_by(
            experiment, "hydra.sweeper.objectives:", figures=TRIAL_FIGURES
        )
