"""The sweep in W&B: its own run, with its figures and its table, in the group of its jobs'
runs; and its saved view (``runner.sweeps.dashboard``).

A sweep has no W&B run of its own while its jobs train; at its end this one carries what the
sweep report drew and printed, so the dashboard shows the comparison beside the jobs.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from runner.platform.console import console
from runner.platform.errors import first_line
from runner.sweeps.outcomes import JobOutcome

if TYPE_CHECKING:
    from runner.records.settings import LoggerSettings

REPORT_NAME = "sweep report"


def mirror_sweep(
    config: DictConfig, sweep_dir: Path, figures: dict[str, Path], jobs: Sequence[JobOutcome]
) -> None:
    """The sweep in W&B, unless its ``logger.mode`` is disabled: its report run, and its
    saved view unless ``logger.dashboard`` is false."""
    from runner.records.settings import LoggerSettings
    from runner.records.wandb_run import choose_mode

    section = OmegaConf.to_container(config.logger, resolve=True)
    logger = LoggerSettings.of(section)  # type: ignore[arg-type]
    if choose_mode(logger.mode) == "disabled":
        return
    online = log_sweep_report(config, logger, sweep_dir, figures, jobs)
    link_job_runs(jobs, sweep_dir)
    if logger.dashboard is not False:
        publish_view(config, section, sweep_dir, jobs, online)  # type: ignore[arg-type]


def link_job_runs(jobs: Sequence[JobOutcome], sweep_dir: Path) -> None:
    """A link in ``<sweep dir>/wandb`` to each job's W&B run folder, beside the report's own,
    so that ``wandb leet <sweep dir>/wandb`` browses the whole sweep."""
    shared = sweep_dir / "wandb"
    for job in jobs:
        for folder in sorted((job.run_dir / "wandb").glob("*run-*")):
            link = shared / folder.name
            if folder.is_dir() and not link.exists():
                shared.mkdir(exist_ok=True)
                link.symlink_to(Path("..") / folder.relative_to(sweep_dir))


def log_sweep_report(
    config: DictConfig,
    logger: "LoggerSettings",
    sweep_dir: Path,
    figures: dict[str, Path],
    jobs: Sequence[JobOutcome],
) -> bool:
    """Log ``figures`` and a table of ``jobs`` to a W&B run named "sweep report"; whether it
    reached the server. Offline, it waits in ``<sweep dir>/wandb`` for ``wandb sync``, like
    the jobs' runs."""
    from runner.records.wandb_run import RunLabels, start_wandb

    settings = logger.for_sweep(str(sweep_dir), REPORT_NAME)
    about = {"sweep_dir": str(sweep_dir), "jobs": len(jobs)}
    labels = RunLabels("sweep-report", notes=sweep_command(config))
    report = start_wandb(settings, about, sweep_dir, run_id=None, labels=labels)
    if report is None:
        return False
    report.log_images(figures, step=0)
    report.log_table("sweep", summary_rows(jobs), step=0)
    report.finish(failed=False)
    if report.offline:
        console.print(f"W&B sweep report saved offline; upload it with: wandb sync {report.directory}",
                      soft_wrap=True)  # fmt: skip
    return not report.offline


def publish_view(
    config: DictConfig,
    logger: dict[str, Any],
    sweep_dir: Path,
    jobs: Sequence[JobOutcome],
    online: bool,
) -> None:
    """Write the sweep's view to ``dashboard.json``; save it in W&B when the sweep is online,
    and say where it is. A view that cannot be saved is a warning: the file keeps it."""
    from runner.sweeps.dashboard import load_workspace, plan_view, save_in_wandb, write_dashboard

    drew = OmegaConf.select(config, "sweep.job_figures", default="end") == "job"
    view = plan_view(jobs, logger, sweep_dir, search=is_search(config), jobs_drew_curves=drew)
    path = write_dashboard(view, sweep_dir)
    if not online:
        console.print(f"W&B view of the sweep: {path}; save it with: python -m runner.sync {sweep_dir}",
                      soft_wrap=True)  # fmt: skip
        return
    try:
        url = save_in_wandb(load_workspace(path, default_entity()))
    except Exception as error:  # whatever the server answers, the sweep has ended well
        console.print(f"warning: W&B did not save the sweep's view ({first_line(error)}); "
                      f"save it later with: python -m runner.sync {sweep_dir}", soft_wrap=True)  # fmt: skip
        return
    console.print(f"W&B view of the sweep: {url}", soft_wrap=True)


def default_entity() -> str:
    """The W&B user or team that runs go to when ``logger.entity`` names none."""
    import wandb

    return wandb.Api().default_entity or ""


def is_search(config: DictConfig) -> bool:
    """Whether the sweep is an Optuna search (its sweeper is the runner's Optuna plugin)."""
    sweeper = OmegaConf.select(config, "hydra.sweeper._target_", default="") or ""
    return "optuna" in sweeper.lower()


def sweep_command(config: DictConfig) -> str:
    """The command that ran the sweep, as its overrides say."""
    overrides = OmegaConf.select(config, "hydra.overrides.task", default=[]) or []
    return " ".join(["python -m runner -m", *overrides])


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
