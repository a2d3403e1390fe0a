"""The sweep's own W&B run: its figures and its table, in the group of its jobs' runs.

A sweep has no W&B run of its own while its jobs train; at its end this one carries what the
sweep report drew and printed, so the dashboard shows the comparison beside the jobs.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.platform.console import console
from runner.sweeps.outcomes import JobOutcome

REPORT_NAME = "sweep report"


def log_sweep_report(
    config: DictConfig, sweep_dir: Path, figures: dict[str, Path], jobs: Sequence[JobOutcome]
) -> None:
    """Log ``figures`` and a table of ``jobs`` to a W&B run named "sweep report", unless the
    sweep's ``logger.mode`` is disabled. Offline, it waits in ``<sweep dir>/wandb`` for
    ``wandb sync``, like the jobs' runs."""
    from runner.records.settings import LoggerSettings
    from runner.records.wandb_run import choose_mode, start_wandb

    logger = LoggerSettings.of(OmegaConf.to_container(config.logger, resolve=True))
    if choose_mode(logger.mode) == "disabled":
        return
    settings = logger.for_sweep(str(sweep_dir), REPORT_NAME)
    about = {"sweep_dir": str(sweep_dir), "jobs": len(jobs)}
    report = start_wandb(settings, about, sweep_dir, run_id=None)
    if report is None:
        return
    report.log_images(figures, step=0)
    report.log_table("sweep", summary_rows(jobs), step=0)
    report.finish(failed=False)
    if report.offline:
        console.print(f"W&B sweep report saved offline; upload it with: wandb sync {report.directory}",
                      soft_wrap=True)  # fmt: skip


def summary_rows(jobs: Sequence[JobOutcome]) -> list[dict[str, Any]]:
    """A row per job: its overrides, status, objective and time."""
    return [
        {
            "job": job.number,
            "overrides": " ".join(job.overrides),
            "status": job.status,
            "objective": job.value,
            "wall_time_s": job.wall_time_s,
        }
        for job in jobs
    ]
