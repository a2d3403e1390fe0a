"""Executing a prepared run: train, test, and close it however it ends, with a
``summary.json`` that says how, its figures, and its W&B run finished."""

import time
from pathlib import Path
from typing import Any

from runner.figures.canvas import load_matplotlib_in_background
from runner.platform.console import Display, console
from runner.platform.errors import describe_error, unwritable_place
from runner.platform.signals import interrupts_deferred
from runner.records.config_tree import show_config
from runner.records.figure_worker import worker_ready
from runner.records.metrics import MetricsFile
from runner.records.run_log import RunLog, measured_once
from runner.records.summary import summary_table, write_summary
from runner.records.wandb_run import RunLabels, WandbRun, start_wandb
from runner.run.prepare import PreparedRun
from runner.training.evaluation import evaluate
from runner.training.loop import fit
from runner.training.profiling import profiled

FIGURE_GROUPS = ("experiment", "model", "optim", "data", "schedule")  # named in figure titles
TAGGED_GROUPS = ("experiment", "model")  # a W&B run is tagged with these options
ENDED_WELL = ("completed", "pruned")


def execute(run: PreparedRun) -> float:
    """Train, test and close the run; return its objective.

    However it ends (completed, failed, interrupted), ``summary.json`` says so and the W&B run
    is closed; an exception is raised again after that.
    """
    if run.processes.main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        show_config(run.settings.config, run.run_dir / "config_tree.txt")
    log = open_log(run)
    try:
        stop_reason, value = train_and_test(run, log)
        draw_figures(run, log)  # before the summary says the run completed
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        with interrupts_deferred(honour=False):  # the run is stopping: let it say how
            close(run, log, status, error=describe_error(error))
        raise
    objective = {**vars(run.training.objective), "value": value}
    status = "pruned" if stop_reason == "pruned" else "completed"
    with interrupts_deferred():  # a summary written whole, then Ctrl-C is honoured
        close(run, log, status, objective=objective, stop_reason=stop_reason)
    return value


def train_and_test(run: PreparedRun, log: RunLog) -> tuple[str, float]:
    """Train (under torch.profiler with ``trainer.profile``), then test unless the search
    pruned the run; return why training stopped and the objective's value."""
    training, state = run.training, run.state
    with profiled(run.settings.trainer.profile and run.processes.main, run.run_dir / "profile"):
        stop_reason = fit(training, log, state)
    log.training_ended_at = time.time()  # the wind-down starts: test, figures, summary
    if stop_reason == "pruned":  # the search has judged it: testing it would be time lost
        return stop_reason, log.final_metrics().get(training.objective.metric, float("nan"))
    if run.processes.main and run.settings.draws_figures and not worker_ready():
        load_matplotlib_in_background()  # for the figures it draws after the test
    test_metrics = evaluate(training.experiment, training.loaders.test, "test", training.plan.seed)
    log.log(test_metrics, step=state.step, epoch=state.epoch)
    return stop_reason, training.objective.value_in(log.final_metrics())


def open_log(run: PreparedRun) -> RunLog:
    """The run's metrics file, cut back to its checkpoint, and its W&B run, continued
    (rank 0's; the other processes' log writes nothing)."""
    if not run.processes.main:
        return RunLog(run.run_dir, None, None, elapsed_before=run.state.wall_time_s)
    metrics = MetricsFile(run.run_dir / "metrics.jsonl", keep_bytes=run.state.metrics_bytes)
    settings = run.settings
    wandb = start_wandb(
        settings.logger, settings.config, run.run_dir, run.state.wandb_run_id, labels_of(run)
    )
    run.state.wandb_run_id = None if wandb is None else wandb.id
    if wandb is not None:
        wandb.declare_metrics(best_values(run))
    return RunLog(run.run_dir, metrics, wandb, elapsed_before=run.state.wall_time_s)


def labels_of(run: PreparedRun) -> RunLabels:
    """A training run's W&B labels: tagged by its paper and the options it chose
    (``paper:stn``, ``model:stn``, ``experiment:stn_table1``), noted with its command."""
    experiment = run.training.experiment
    tags = [f"paper:{experiment.paper}"] if experiment.paper else []
    tags += [f"{group}:{option}" for group, option in run.settings.choices.items()
             if group in TAGGED_GROUPS]  # fmt: skip
    return RunLabels("train", tuple(tags), run.settings.logger.notes)


def best_values(run: PreparedRun) -> dict[str, str]:
    """The metrics W&B summarises by their best value (name → ``"max"`` or ``"min"``): each
    validation metric that has a goal, and the objective, judged as the run judges it."""
    goals = run.training.experiment.metric_goals
    best = {f"val/{name}": goals[name] for name in run.training.experiment.evaluation_metrics
            if name in goals}  # fmt: skip
    objective = run.training.objective
    if not measured_once(objective.metric):
        best[objective.metric] = objective.mode
    return best


def close(run: PreparedRun, log: RunLog, status: str, **ending: Any) -> None:
    """Write ``summary.json``, draw the figures, show the summary, and close the metrics file
    and the W&B run."""
    failed = status not in ENDED_WELL
    if run.processes.main:
        wall_time = log.wall_time()
        if "perf/compile_s" in log.latest:  # the first step of the latest session
            ending["compile_s"] = log.latest["perf/compile_s"]
        record_ending(run, log, {"status": status, **ending, "wall_time_s": wall_time}, failed)
        if status == "failed":  # a completed run has drawn them; an interrupted one does on resume
            draw_figures(run, log)
        if not failed:
            show_and_mirror_ending(run, log, status, ending, wall_time)
    log.close(failed=failed)


def record_ending(run: PreparedRun, log: RunLog, ending: dict[str, Any], failed: bool) -> None:
    """``summary.json``: how the run ended (``ending``: its status, objective or error, wall
    time), where and what it measured. When the disk that failed the run fails its summary
    too, the error that ended the run is the one reported (it is raised on after this)."""
    status, wall_time = ending.pop("status"), ending.pop("wall_time_s")
    try:
        write_summary(
            run.run_dir / "summary.json", status=status, run_dir=str(run.run_dir),
            device=str(run.device), seed=run.settings.seed, **ending,
            metrics=log.final_metrics(), steps=run.state.step, wall_time_s=wall_time,
            training_ended_at=log.training_ended_at,
        )  # fmt: skip
    except OSError as error:
        if not failed or unwritable_place(error) is None:
            raise


def show_and_mirror_ending(
    run: PreparedRun, log: RunLog, status: str, ending: dict[str, Any], wall_time: float
) -> None:
    """The summary table on the terminal, and the run's ending in W&B."""
    objective = ending["objective"]
    if Display.detailed:
        final = log.final_metrics()
        console.print(summary_table(final, objective["metric"], wall_time, ending.get("compile_s")))
    if log.wandb is not None:
        mirror_ending(run, log.wandb, status, objective, wall_time)


def mirror_ending(
    run: PreparedRun, wandb: WandbRun, status: str, objective: dict[str, Any], wall_time: float
) -> None:
    """The objective, wall time and status in the W&B run's summary; a pruned run tagged;
    the checkpoints logged as artifacts when ``logger.log_checkpoints`` says so."""
    wandb.set_summary({"objective": objective["value"], "wall_time_s": wall_time, "status": status})
    if status == "pruned":
        wandb.add_tags(["pruned"])
    if wandb.should_log_checkpoints(run.settings.logger.log_checkpoints):
        wandb.log_checkpoints(checkpoint_metadata(run, objective))
    if wandb.offline:
        console.print(f"W&B run saved offline; upload it with: wandb sync {wandb.directory}")


def draw_figures(run: PreparedRun, log: RunLog) -> None:
    """The run's curves and line plots, drawn from its files (by rank 0), unless whoever
    runs it draws them (a sweep, at its end)."""
    if run.processes.main and run.settings.draws_figures:
        log.draw_figures(figure_title(run.settings.config), step=run.state.step)


def figure_title(config: dict[str, Any]) -> str:
    """What a run's figures are of: its options and seed (``model=stn optim=adam seed=0``)."""
    chosen = config.get("choices", {})
    options = [f"{group}={chosen[group]}" for group in FIGURE_GROUPS if group in chosen]
    return " ".join([*options, f"seed={config['seed']}"])


def checkpoint_metadata(run: PreparedRun, objective: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    """The checkpoint files to log as W&B artifacts, each with what it holds."""
    checkpoints = run.training.checkpoints
    about = {
        "objective": objective["metric"],
        "mode": objective["mode"],
        "run_dir": str(run.run_dir),
    }
    files = {}
    if checkpoints.best.exists():
        files[checkpoints.best] = {**about, "value": run.state.best}
    files[checkpoints.last] = {**about, "value": objective["value"], "step": run.state.step}
    return files
