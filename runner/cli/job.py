"""What ``python -m runner`` does with the config Hydra composed for one job: fill in what only
Hydra knows, then run it, as one run or as a job of a sweep, and turn a bad setting, Ctrl-C or
an unwritable place into one line and an exit status."""

import logging
import shutil
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.platform.console import brief_output, plain_output
from runner.platform.environment import available_cores, launched_by_torchrun, torchrun_rank
from runner.platform.errors import (
    CONFIG_ERROR_EXIT_CODE,
    ConfigError,
    setting_for,
    unwritable_place,
)
from runner.platform.memory import keep_freed_memory
from runner.platform.signals import INTERRUPTED_EXIT_CODE, interrupts_deferred, tell_interrupted
from runner.records.figure_worker import figure_worker
from runner.records.overrides import without_resume
from runner.run.settings import settings_of
from runner.sweeps.job import SweepJob, group_choices, run_sweep_job
from runner.sweeps.threads import parallel_jobs, threads_per_job

RUN_FAILED_EXIT_CODE = 1


def run_job(cfg: DictConfig) -> float | None:
    """Hydra's task function: this job's objective (None for a sweep's job that failed)."""
    logging.raiseExceptions = False  # train.log on a full disk: the run says so, not logging
    fill_in_from_hydra(cfg)
    keep_freed_memory()  # this process is the job's: its tensors reuse what the last freed
    job = SweepJob.current()
    with figure_worker(wanted=job is None and draws_own_figures(cfg)):  # started before torch
        with interrupts_deferred():  # torch and the rest of what a run uses, loaded whole
            import runner.run.lifecycle  # noqa: F401
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        if job is not None:
            brief_output()  # a line as each job starts and ends; its details are in its files
            return run_sweep_job(cfg, run_dir, job)
        return run_one(cfg, run_dir)


def draws_own_figures(cfg: DictConfig) -> bool:
    """Whether this process, running one run, will draw its figures at the end: it does
    unless it launches the run's processes (``device.processes`` > 1) or is a rank other than
    0, or its settings are refused (the run then says why, as it starts)."""
    try:
        settings = settings_of(cfg)  # a few milliseconds, and no torch
    except Exception:  # reported by the run, in one line
        return False
    return torchrun_rank() == 0 and settings.device.processes <= 1


def run_one(cfg: DictConfig, run_dir: Path) -> float:
    """A run outside a sweep: its objective, or a one-line error and the exit status."""
    from runner.platform.distributed import leave_process_group
    from runner.run import run
    from runner.run.processes import join_torchrun_group

    try:
        if launched_by_torchrun():
            run_dir = join_torchrun_group(OmegaConf.to_container(cfg, resolve=True), run_dir)
        return run(cfg, run_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        if torchrun_rank() == 0:
            remove_if_only_hydra_files(run_dir)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    except KeyboardInterrupt:
        tell_interrupted(f"\ninterrupted; continue with: {resume_command(run_dir)}")
        sys.exit(INTERRUPTED_EXIT_CODE)
    except (OSError, FloatingPointError) as error:
        line = failure_line(error, cfg, run_dir)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(RUN_FAILED_EXIT_CODE)
    finally:
        leave_process_group()


def failure_line(error: Exception, cfg: DictConfig, run_dir: Path) -> str | None:
    """One line for a run that failed for a reason of its own, recorded in its summary.json:
    training that diverged, or a place it could not write; None for anything else."""
    if isinstance(error, FloatingPointError):
        return f"{error} (summary.json and metrics.jsonl have the run's last records)"
    if unwritable_place(error) is None:
        return None
    return unwritable_line(error, cfg, run_dir)


def unwritable_line(error: OSError, cfg: DictConfig, run_dir: Path) -> str:
    """A place the run could not write: which, why, the setting that chose it, and how to
    continue once it can be written."""
    places = {"hydra.run.dir": str(run_dir), "data.root": str(cfg.data.root)}
    setting = setting_for(error, places)
    chose = f" (chosen by {setting})" if setting else ""
    return f"{unwritable_place(error)}{chose}; once it can be, continue with: {resume_command(run_dir)}"


def fill_in_from_hydra(cfg: DictConfig) -> None:
    """Settings only Hydra knows: the config groups' option names, this job's CPU threads,
    and the command that runs it, as the W&B run's notes unless ``logger.notes`` is set."""
    hydra_config = HydraConfig.get()
    launcher = OmegaConf.to_container(hydra_config.launcher)
    with open_dict(cfg):
        cfg.choices = group_choices(OmegaConf.to_container(hydra_config.runtime.choices))
        if cfg.device.threads is None:
            cfg.device.threads = threads_per_job(launcher)
        if cfg.logger.get("notes") is None:
            cfg.logger.notes = job_command(without_resume(hydra_config.overrides.task))
    if parallel_jobs(launcher, available_cores()) > 1:
        plain_output()  # jobs side by side: lines, not live progress bars over each other


def remove_if_only_hydra_files(run_dir: Path) -> None:
    """Delete a run directory that holds nothing but what Hydra wrote before the job began."""
    if not run_dir.is_dir():
        return
    entries = list(run_dir.iterdir())
    if all(entry.name == ".hydra" or entry.suffix == ".log" for entry in entries):
        shutil.rmtree(run_dir)


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir`` as it was started."""
    overrides = without_resume(HydraConfig.get().overrides.task)
    return job_command([*overrides, "resume=true", f"hydra.run.dir={run_dir}"])


def job_command(overrides: list[str]) -> str:
    """``python -m runner`` with ``overrides``, and the config directory the job added, if any."""
    added = [
        f"--config-dir {source.path.removeprefix('file://')}"
        for source in HydraConfig.get().runtime.config_sources
        if source.provider == "command-line"
    ]
    return " ".join(["python -m runner", *added, *overrides])
