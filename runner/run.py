"""One training run, in two halves: prepare it (check, build, restore), then execute it
(train, test, record how it ended).

Preparing writes nothing, so a run refused for a bad setting leaves no trace; executing
writes the run directory and always ends it with a ``summary.json``, whatever happens.

A run of several processes is this same run in each of them (:mod:`runner.distributed`):
``device.processes=N`` first launches them (:mod:`runner.launch`), each then runs here,
and rank 0 alone writes.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from experiments.base import Experiment
from runner.build import (
    build,
    build_loaders,
    build_optimizer_factory,
    build_schedules,
    compile_modules,
)
from runner.checkpoint import Checkpointer, read_checkpoint
from runner.console import Display, console, show_config, summary_table
from runner.data.loader import Loaders
from runner.device import check_precision, check_processes, resolve_device, set_determinism
from runner.distributed import Processes, current_processes, rank_seed
from runner.errors import ConfigError, describe_error, unwritable_place
from runner.evaluation import evaluate
from runner.files import read_json, remove_unfinished_writes
from runner.launch import launch_processes
from runner.lock import DirectoryLock
from runner.loop import Pruning, TrainingPlan, fit
from runner.metrics import MetricsFile, check_metrics_file
from runner.objective import Objective
from runner.profiling import profiled
from runner.resume import check_resumable
from runner.run_log import RunLog
from runner.settings import validate
from runner.state import TrainState
from runner.step import StepService, StepSettings
from runner.summary import write_summary
from runner.wandb_run import start_wandb

FIGURE_GROUPS = ("experiment", "model", "optim", "data", "schedule")  # named in figure titles


@dataclass
class PreparedRun:
    """Everything built for a run, and its state: new, or restored from ``last.pt``."""

    run_dir: Path
    config: dict[str, Any]
    device: torch.device
    experiment: Experiment
    steps: StepService
    loaders: Loaders
    plan: TrainingPlan
    objective: Objective
    checkpoints: Checkpointer
    state: TrainState
    processes: Processes
    pruning: Pruning | None = None  # the Optuna trial the run is, if it is one


def run(cfg: DictConfig, run_dir: Path) -> float:
    """Train and evaluate the configured experiment in ``run_dir``; return the objective.

    First the run is prepared (settings checked, checkpoint found and checked, data, model
    and optimizers built and restored), writing nothing: a :class:`ConfigError` for an
    unusable setting leaves no trace. Then it is executed.

    With ``device.processes`` > 1, outside a process group, this launches the processes,
    each of which runs this function, and returns rank 0's objective.
    """
    config = validate(cfg)
    processes = current_processes()
    if processes.several:  # a rank: the process that started the ranks holds the lock
        return prepare_and_execute(cfg, config, run_dir, processes)
    with DirectoryLock(run_dir):
        return prepare_and_execute(cfg, config, run_dir, processes)


def prepare_and_execute(
    cfg: DictConfig, config: dict[str, Any], run_dir: Path, processes: Processes
) -> float:
    """:func:`run`, in a process that may write ``run_dir``."""
    if not processes.main:
        console.quiet = True
    device = resolve_device(config["device"]["type"])
    check_precision(config["trainer"]["precision"], device)
    if not processes.several:
        check_processes(config["device"]["processes"], config["data"]["batch_size"], device)
        if config["device"]["processes"] > 1:
            return launch_processes(config, run_dir, device.type)
    elif device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
    checkpoint = checkpoint_to_resume(config, run_dir)
    set_up_torch(config)
    loaders = build_loaders(cfg.data, config["seed"], device, processes)
    plan = TrainingPlan.from_config(config)
    total_steps = plan.total_steps(len(loaders.train))
    check_accumulation(config["trainer"]["accumulate"], total_steps)
    if checkpoint is not None:
        planned = TrainingPlan.from_config(checkpoint["config"]).total_steps(len(loaders.train))
        check_resumable(checkpoint, config, total_steps, planned)
        completed = completed_objective(run_dir, total_steps)
        if completed is not None:
            console.print(f"{run_dir} already completed; nothing to resume")
            return completed
    return execute(build_run(cfg, config, run_dir, device, loaders, plan, checkpoint, processes))


def checkpoint_to_resume(config: dict[str, Any], run_dir: Path) -> dict[str, Any] | None:
    """``last.pt`` when ``resume=true`` finds one; None to start afresh.

    Without ``resume=true``, a directory that already holds a run is refused: its files stay
    as they are.
    """
    last = run_dir / "checkpoints" / "last.pt"
    if not config["resume"]:
        if last.exists():
            raise ConfigError(
                f"{run_dir} already holds a run; pass resume=true to continue it, or choose another run directory (hydra.run.dir)"
            )
        return None
    for path in remove_unfinished_writes(last.parent) + remove_unfinished_writes(run_dir):
        console.print(f"removed {path.name}, left by a write that did not finish")
    if not last.exists():
        console.print(f"resume=true: no checkpoint in {last.parent}; starting a new run")
        return None
    checkpoint = read_checkpoint(last)
    check_metrics_file(run_dir / "metrics.jsonl", checkpoint["state"]["metrics_bytes"])
    return checkpoint


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


def set_up_torch(config: dict[str, Any]) -> None:
    """CPU threads, deterministic kernels, and the seed of everything built after this."""
    if config["device"]["threads"] is not None:
        torch.set_num_threads(config["device"]["threads"])
    set_determinism(config["device"]["deterministic"])
    torch.manual_seed(config["seed"])


def completed_objective(run_dir: Path, total_steps: int) -> float | None:
    """The objective of a run that already completed this many steps, or stopped early;
    None otherwise."""
    previous = read_json(
        run_dir / "summary.json",
        remedy="delete it (checkpoints/last.pt holds the run's state) and resume again",
    )
    if previous.get("status") != "completed":
        return None
    if previous["steps"] == total_steps or previous.get("stop_reason") == "early_stop":
        return previous["objective"]["value"]
    return None


def build_run(
    cfg: DictConfig,
    config: dict[str, Any],
    run_dir: Path,
    device: torch.device,
    loaders: Loaders,
    plan: TrainingPlan,
    checkpoint: dict[str, Any] | None,
    processes: Processes,
) -> PreparedRun:
    """Build the experiment, its optimizers and their step service; check the objective;
    restore the checkpoint.

    Every process builds the same model from the run's seed; then each draws its own random
    numbers (:func:`runner.distributed.rank_seed`).
    """
    experiment = build(cfg.model, "model").to(device)
    optimizers = experiment.configure_optimizers(build_optimizer_factory(cfg.optim))
    accumulate = config["trainer"]["accumulate"]
    optimisation_steps = plan.total_steps(len(loaders.train)) // accumulate  # >= 1: checked
    schedules = build_schedules(cfg.schedule, optimizers, optimisation_steps)
    settings = StepSettings.from_config(config["trainer"])
    steps = StepService(optimizers, settings, device.type, schedules, processes)
    experiment.use_step_service(steps)
    if config["trainer"]["compile"]:
        compile_modules(experiment, config["trainer"]["compile_mode"])
    objective = Objective(config["objective"]["metric"], config["objective"]["mode"])
    objective.check_measured_by(experiment)
    for metric in (config["sweep"].get("trial") or {}).get("objectives", {}):
        # an Optuna search's objectives: the run's metrics, or its training time
        Objective(metric, "max").check_measured_by(
            experiment, "hydra.sweeper.objectives:", figures=("wall_time_s",)
        )
    checkpoints = Checkpointer(run_dir / "checkpoints", experiment, steps, config, processes)
    torch.manual_seed(rank_seed(config["seed"], processes.rank))
    state = TrainState()
    if checkpoint is not None:
        state = checkpoints.restore(checkpoint)
        console.print(f"resuming from {checkpoints.last} at step {state.step}")
    return PreparedRun(
        run_dir, config, device, experiment, steps, loaders, plan, objective, checkpoints, state,
        processes, trial_pruning(config, processes),
    )  # fmt: skip


def trial_pruning(config: dict[str, Any], processes: Processes) -> Pruning | None:
    """The pruning of the Optuna trial this run is (``sweep.trial``, set by the search), or
    None for any other run."""
    trial = config["sweep"].get("trial")
    if not trial:
        return None
    from runner.search.trial import pruning_for

    return pruning_for(trial, processes.main)


def execute(run: PreparedRun) -> float:
    """Train, test and close the run; return its objective.

    However it ends (completed, failed, interrupted), ``summary.json`` says so and the W&B run
    is closed; an exception is raised again after that.
    """
    if run.processes.main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        show_config(run.config, run.run_dir / "config_tree.txt")
    log = open_log(run)
    try:
        profile = run.config["trainer"]["profile"] and run.processes.main  # rank 0 writes
        with profiled(profile, run.run_dir / "profile"):
            stop_reason = fit(
                run.experiment, run.steps, run.loaders, run.plan, run.objective, log,
                run.checkpoints, run.state, run.pruning,
            )  # fmt: skip
        if stop_reason == "pruned":  # the search has judged it: testing it would be time lost
            value = log.final_metrics().get(run.objective.metric, float("nan"))
        else:
            test_metrics = evaluate(run.experiment, run.loaders.test, "test", run.plan.seed)
            log.log(test_metrics, step=run.state.step, epoch=run.state.epoch)
            value = run.objective.value_in(log.final_metrics())
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        close(run, log, status, error=describe_error(error))
        raise
    objective = {**vars(run.objective), "value": value}
    status = "pruned" if stop_reason == "pruned" else "completed"
    close(run, log, status, objective=objective, stop_reason=stop_reason)
    return value


def open_log(run: PreparedRun) -> RunLog:
    """The run's metrics file, cut back to its checkpoint, and its W&B run, continued
    (rank 0's; the other processes' log writes nothing)."""
    if not run.processes.main:
        return RunLog(run.run_dir, None, None, elapsed_before=run.state.wall_time_s)
    metrics = MetricsFile(run.run_dir / "metrics.jsonl", keep_bytes=run.state.metrics_bytes)
    wandb = start_wandb(run.config["logger"], run.config, run.run_dir, run.state.wandb_run_id)
    run.state.wandb_run_id = None if wandb is None else wandb.id
    return RunLog(run.run_dir, metrics, wandb, elapsed_before=run.state.wall_time_s)


def close(run: PreparedRun, log: RunLog, status: str, **ending: Any) -> None:
    """Write ``summary.json``, show the summary, and close the metrics file and the W&B run."""
    failed = status not in ("completed", "pruned")
    if not run.processes.main:
        log.close(failed=failed)
        return
    wall_time = log.wall_time()
    final = log.final_metrics()
    if "perf/compile_s" in log.latest:  # the first step of the latest session
        ending["compile_s"] = log.latest["perf/compile_s"]
    try:
        write_summary(
            run.run_dir / "summary.json", status=status, run_dir=str(run.run_dir),
            device=str(run.device), seed=run.plan.seed, **ending, metrics=final,
            steps=run.state.step, wall_time_s=wall_time,
        )  # fmt: skip
    except OSError as error:
        if not failed or unwritable_place(error) is None:
            raise
        # the disk that failed the run fails its summary too: the error that ended the run
        # is the one to report, and it is raised on after this
    if status != "interrupted":  # Ctrl-C asks to stop now; the figures are drawn on resume
        log.draw_figures(figure_title(run.config), step=run.state.step)
    if not failed:
        objective = ending["objective"]
        if Display.detailed:
            table = summary_table(final, objective["metric"], wall_time, ending.get("compile_s"))
            console.print(table)
        if log.wandb is not None:
            log.wandb.set_summary(
                {"objective": objective["value"], "wall_time_s": wall_time, "status": status}
            )
            if status == "pruned":
                log.wandb.add_tags(["pruned"])
            if log.wandb.should_log_checkpoints(run.config["logger"]["log_checkpoints"]):
                log.wandb.log_checkpoints(checkpoint_metadata(run, objective))
            if log.wandb.offline:
                console.print(
                    f"W&B run saved offline; upload it with: wandb sync {log.wandb.directory}"
                )
    log.close(failed=failed)


def figure_title(config: dict[str, Any]) -> str:
    """What a run's figures are of: its options and seed (``model=stn optim=adam seed=0``)."""
    chosen = config.get("choices", {})
    options = [f"{group}={chosen[group]}" for group in FIGURE_GROUPS if group in chosen]
    return " ".join([*options, f"seed={config['seed']}"])


def checkpoint_metadata(run: PreparedRun, objective: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    """The checkpoint files to log as W&B artifacts, each with what it holds."""
    about = {
        "objective": objective["metric"],
        "mode": objective["mode"],
        "run_dir": str(run.run_dir),
    }
    files = {}
    if run.checkpoints.best.exists():
        files[run.checkpoints.best] = {**about, "value": run.state.best}
    files[run.checkpoints.last] = {**about, "value": objective["value"], "step": run.state.step}
    return files
