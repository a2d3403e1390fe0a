"""The single entry point: compose the config, build, train, evaluate, report the objective.

``python -m runner [overrides]`` runs :func:`main` through Hydra; :func:`run` is the same job
for Python callers that already hold a composed config.
"""

import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.base import Experiment
from runner.build import build, build_loaders, build_optimizer_factory
from runner.checkpoint import Checkpointer, Position, read_checkpoint
from runner.console import console, plain_output, show_config, summary_table
from runner.device import resolve_device, set_determinism
from runner.distorted import register_resolvers
from runner.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, describe_error
from runner.files import read_json
from runner.loop import Loaders, Objective, Schedule, evaluate, fit
from runner.metrics import MetricsFile, RunningMeans
from runner.overrides import problem_with
from runner.resume import check_resumable
from runner.run_log import RunLog
from runner.settings import validate
from runner.summary import write_summary
from runner.sweep import (
    SweepJob,
    count_failed_jobs,
    group_choices,
    name_in_wandb,
    record_failure,
    record_skipped,
)
from runner.threads import available_cores, parallel_jobs, threads_per_job
from runner.wandb_run import start_wandb

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
register_resolvers()  # before any config is composed
INTERRUPTED_EXIT_CODE = 130  # as a shell reports a command stopped by Ctrl-C


def run(cfg: DictConfig, run_dir: Path) -> float:
    """Train and evaluate the configured experiment in ``run_dir``; return the objective.

    Raises :class:`ConfigError` for unusable settings before anything is written.
    """
    config = validate(cfg)
    checkpoints_dir = run_dir / "checkpoints"
    if not cfg.resume and (checkpoints_dir / "last.pt").exists():
        raise ConfigError(
            f"{run_dir} already holds a run; pass resume=true to continue it, or choose another run directory (hydra.run.dir)"
        )

    device = resolve_device(cfg.device.type)
    if cfg.device.threads is not None:
        torch.set_num_threads(cfg.device.threads)
    set_determinism(cfg.device.deterministic)
    torch.manual_seed(cfg.seed)
    loaders = build_loaders(cfg.data, cfg.seed, device)
    schedule = Schedule(
        cfg.trainer.epochs, cfg.trainer.max_steps, cfg.trainer.eval_every, cfg.trainer.log_every
    )
    total_steps = schedule.total_steps(len(loaders.train))
    checkpoint: dict[str, Any] = {}
    if cfg.resume and (checkpoints_dir / "last.pt").exists():
        checkpoint = read_checkpoint(checkpoints_dir / "last.pt")
        check_resumable(checkpoint, config, total_steps)
        previous = read_json(run_dir / "summary.json")
        if previous.get("status") == "completed" and previous["steps"] == total_steps:
            console.print(f"{run_dir} already completed; nothing to resume")
            return previous["objective"]["value"]
    elif cfg.resume:
        console.print(f"resume=true: no checkpoint in {checkpoints_dir}; starting a new run")

    experiment = build(cfg.model, "model").to(device)
    optimizers = experiment.configure_optimizers(build_optimizer_factory(cfg.optim))
    objective = Objective(cfg.objective.metric, cfg.objective.mode)
    check_objective_is_measured(experiment, loaders, objective, cfg.seed)
    checkpoints = Checkpointer(checkpoints_dir, experiment, optimizers)
    position, resumed, epoch_means = Position(), {"best": None}, RunningMeans()
    if checkpoint:
        position, resumed = checkpoints.restore(checkpoint)
        epoch_means.load_state(resumed["epoch_means"])
        console.print(f"resuming from {checkpoints.last} at step {position.step}")

    run_dir.mkdir(parents=True, exist_ok=True)
    show_config(config, run_dir / "config_tree.txt")
    metrics = MetricsFile(run_dir / "metrics.jsonl", keep_bytes=resumed.get("metrics_bytes", 0))
    wandb = start_wandb(config["logger"], config, run_dir, resumed.get("wandb_run_id"))
    log = RunLog(run_dir, metrics, wandb, elapsed_before=resumed.get("wall_time_s", 0.0))
    ending = {"run_dir": str(run_dir), "device": str(device), "seed": cfg.seed}
    try:
        fit(
            experiment, optimizers, loaders, schedule, objective, log, checkpoints,
            position=position, best=resumed["best"], epoch_means=epoch_means, config=config,
            seed=cfg.seed,
        )  # fmt: skip
        test_metrics = evaluate(experiment, loaders.test, "test", cfg.seed)
        log.log(test_metrics, step=position.step, epoch=position.epoch)
        value = objective_value(log.final_metrics(), objective)
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        ending["error"] = describe_error(error)
        close(log, run_dir, status, ending, position)
        raise
    ending["objective"] = {"metric": objective.metric, "mode": objective.mode, "value": value}
    close(log, run_dir, "completed", ending, position)
    return value


def check_objective_is_measured(
    experiment: Experiment, loaders: Loaders, objective: Objective, seed: int
) -> None:
    """Evaluate one validation batch to learn the metric names, so a typo fails before training."""
    split, _, name = objective.metric.partition("/")
    if split == "train":
        return  # training metrics are named by the first training step; checked at the end
    measured = evaluate(experiment, [next(iter(loaders.val))], "val", seed)
    names = [metric.partition("/")[2] for metric in measured]
    if name not in names:
        raise ConfigError(
            f"objective.metric {objective.metric!r} is not measured by this model; "
            f"it measures {', '.join(f'{split}/{n}' for n in names)} (and train/ metrics)"
        )


def objective_value(metrics: dict[str, float], objective: Objective) -> float:
    if objective.metric not in metrics:
        measured = ", ".join(sorted(metrics))
        raise ConfigError(
            f"objective.metric {objective.metric!r} was not measured; measured: {measured}"
        )
    return metrics[objective.metric]


def close(
    log: RunLog, run_dir: Path, status: str, ending: dict[str, Any], position: Position
) -> None:
    """Write ``summary.json``, show the summary, and close the metrics file and the W&B run."""
    wall_time = log.wall_time()
    final = log.final_metrics()
    write_summary(
        run_dir / "summary.json", status=status, **ending,
        metrics=final, steps=position.step, wall_time_s=wall_time,
    )  # fmt: skip
    if status == "completed":
        objective = ending["objective"]
        console.print(summary_table(final, objective["metric"], wall_time))
        if log.wandb is not None:
            log.wandb.set_summary({"objective": objective["value"], "wall_time_s": wall_time})
            if log.wandb.offline:
                console.print(
                    f"W&B run saved offline; upload it with: wandb sync {log.wandb.directory}"
                )
    log.close(failed=status != "completed")


def remove_if_only_hydra_files(run_dir: Path) -> None:
    """Delete a run directory that holds nothing but what Hydra wrote before the job began."""
    if not run_dir.is_dir():
        return
    entries = list(run_dir.iterdir())
    if all(entry.name == ".hydra" or entry.suffix == ".log" for entry in entries):
        shutil.rmtree(run_dir)


def fill_in_from_hydra(cfg: DictConfig) -> None:
    """Settings only Hydra knows: the config groups' option names and this job's CPU threads."""
    hydra_config = HydraConfig.get()
    launcher = OmegaConf.to_container(hydra_config.launcher)
    with open_dict(cfg):
        cfg.choices = group_choices(OmegaConf.to_container(hydra_config.runtime.choices))
        if cfg.device.threads is None:
            cfg.device.threads = threads_per_job(launcher)
    if parallel_jobs(launcher, available_cores()) > 1:
        plain_output()  # jobs side by side: lines, not live progress bars over each other


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_job(cfg: DictConfig) -> float | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    fill_in_from_hydra(cfg)
    job = SweepJob.current()
    if job is not None:
        return sweep_job(cfg, run_dir, job)
    try:
        return run(cfg, run_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        remove_if_only_hydra_files(run_dir)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    except KeyboardInterrupt:
        overrides = " ".join(
            o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")
        )
        print(
            f"\ninterrupted; continue with: python -m runner {overrides} resume=true hydra.run.dir={run_dir}",
            file=sys.stderr,
        )
        sys.exit(INTERRUPTED_EXIT_CODE)


def sweep_job(cfg: DictConfig, run_dir: Path, job: SweepJob) -> float | None:
    """One job of a sweep: its objective, or None when it failed or was skipped.

    A failure is recorded in the job's directory and the sweep goes on; the sweep's report
    lists it and the sweep exits non-zero. Optuna records a job that returns None as a
    failed trial.
    """
    name_in_wandb(cfg, job)
    limit = cfg.sweep.max_failures
    if limit is not None and count_failed_jobs(job.sweep_dir, other_than=run_dir) >= limit:
        reason = f"not run: sweep.max_failures={limit} jobs of this sweep have failed"
        record_skipped(run_dir, reason)
        print(f"job {job.number} ({job.label}) {reason}", file=sys.stderr)
        return None
    try:
        return run(cfg, run_dir)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; continue the sweep with the same command and: "
            f"resume=true hydra.sweep.dir={job.sweep_dir}",
            file=sys.stderr,
        )
        raise
    except Exception as error:
        record_failure(run_dir, error)
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: job {job.number} ({job.label}) failed: {message}", file=sys.stderr)
        return None


def stop_as_if_interrupted(signal_number: int, frame: object) -> None:
    """SIGTERM (``kill``, a cluster's preemption) ends the run as Ctrl-C does: recorded, resumable."""
    raise KeyboardInterrupt


def main() -> None:
    """``python -m runner`` and the ``runner`` command."""
    problem = problem_with(sys.argv[1:], CONF_DIR)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    signal.signal(signal.SIGTERM, stop_as_if_interrupted)
    try:
        _hydra_job()
    except KeyboardInterrupt:  # a sweep stopped by Ctrl-C: its job has said how to continue
        sys.exit(INTERRUPTED_EXIT_CODE)
    except ValueError as error:  # Hydra's own command-line checks (e.g. -m with --cfg)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
