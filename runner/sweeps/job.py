"""One job of a ``-m`` sweep: who it is, how W&B names it, and how its failure is recorded.

A job that fails must not take the sweep down with it. Its failure is written where the
sweep's report and a person looking at the job directory will find it (``summary.json`` with
``status: failed``, ``traceback.txt``), and the next job starts.
"""

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.platform.console import console, format_value, live_sweep_display
from runner.platform.errors import ConfigError, DamagedFile, describe_error, first_line
from runner.platform.files import as_number, read_json
from runner.platform.signals import tell_interrupted
from runner.platform.stopping import Stopped
from runner.records.overrides import without_resume
from runner.records.summary import write_summary
from runner.search import OPTUNA_SWEEPER
from runner.sweeps.settings import check_sweep_settings

if TYPE_CHECKING:
    from runner.search.trial import TrialLink


@dataclass(frozen=True)
class SweepJob:
    sweep_dir: Path
    number: int
    overrides: tuple[str, ...]  # those that make the job, not resume=true (how it is run)

    @classmethod
    def current(cls) -> "SweepJob | None":
        """The job Hydra is running now, or None outside a ``-m`` sweep."""
        hydra_config = HydraConfig.get()
        if hydra_config.mode != RunMode.MULTIRUN:
            return None
        return cls(
            Path(hydra_config.sweep.dir),
            int(hydra_config.job.num),
            tuple(without_resume(hydra_config.overrides.task)),
        )

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or f"job {self.number}"


JOB_LINE_WIDTH = 100


def name_in_wandb(cfg: DictConfig, job: SweepJob) -> None:
    """Make the job its own W&B run: grouped by the sweep, named and tagged by its overrides.

    Only what the user left unset is filled in (``logger.group``, ``logger.name``,
    ``logger.tags``), so the dashboard groups and compares a sweep's jobs without editing.
    """
    with open_dict(cfg):
        cfg.logger.group = cfg.logger.group or str(job.sweep_dir)
        cfg.logger.name = cfg.logger.name or job.label
        cfg.logger.tags = list(cfg.logger.tags or []) + [o[:64] for o in job.overrides]


def count_failed_jobs(sweep_dir: Path, other_than: Path) -> int:
    """Jobs of the sweep whose ``summary.json`` says they failed, leaving out ``other_than``."""
    return sum(
        1
        for summary in sweep_dir.glob("**/summary.json")
        if summary.parent != other_than and read_json(summary).get("status") == "failed"
    )


def record_failure(run_dir: Path, error: Exception) -> None:
    """``traceback.txt`` for a crash, and a failed ``summary.json`` if the run wrote none.

    A run that failed while training has already written its summary, with the metrics it
    reached; one that failed before (a bad setting) gets a summary with the error alone.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(error, ConfigError):
        text = "".join(traceback.format_exception(error))
        (run_dir / "traceback.txt").write_text(text, encoding="utf-8")
    summary = read_json(run_dir / "summary.json")
    error_text = describe_error(error)
    if summary.get("status") != "failed" or summary.get("error") != error_text:
        write_summary(
            run_dir / "summary.json", status="failed", run_dir=str(run_dir), error=error_text
        )


def record_skipped(run_dir: Path, reason: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_summary(run_dir / "summary.json", status="skipped", run_dir=str(run_dir), error=reason)


def group_choices(hydra_choices: dict[str, Any]) -> dict[str, Any]:
    """The option chosen in each of the runner's config groups (``optim: adam``, ...).

    The resolved config holds what an option sets, not its name; with the names in the
    W&B config the dashboard can group and filter runs by optimizer, model or data.
    """
    return {
        group: option
        for group, option in hydra_choices.items()
        if option is not None and not group.startswith("hydra")
    }


def run_sweep_job(cfg: DictConfig, run_dir: Path, job: SweepJob) -> float | None:
    """One job of a sweep: its objective, or None when it failed or was skipped.

    A failure is recorded in the job's directory and the sweep goes on; the sweep's report
    lists it and the sweep exits non-zero. A job of an Optuna search also tells its trial how
    it ended (:mod:`runner.search.trial`).
    """
    name_in_wandb(cfg, job)
    trial = optuna_trial_of(cfg, job)
    value = None
    limit = cfg.sweep.max_failures
    if limit is not None and count_failed_jobs(job.sweep_dir, other_than=run_dir) >= limit:
        reason = f"not run: sweep.max_failures={limit} jobs of this sweep have failed"
        record_skipped(run_dir, reason)
        print(f"job {job.number} ({job.label}) {reason}", file=sys.stderr)
    else:
        value = run_recording_failure(cfg, run_dir, job, trial)
        if value is not None and not live_sweep_display():  # a failure has said so in its own line
            show_end(job, read_json(run_dir / "summary.json"))
    if trial is not None:
        from runner.search.trial import tell_outcome

        tell_outcome(trial, read_json(run_dir / "summary.json"))
    return value


def show_end(job: SweepJob, summary: dict[str, Any]) -> None:
    """One line as the job ends: its status, objective, time and overrides, in
    :data:`JOB_LINE_WIDTH` columns at most."""
    objective = summary.get("objective") or {}
    value, wall_time = as_number(objective.get("value")), as_number(summary.get("wall_time_s"))
    details = []
    if objective.get("metric") and value is not None:
        details.append(f"{objective['metric']} {format_value(value)} ({objective.get('mode')})")
    if wall_time is not None:
        details.append(f"{wall_time:.1f} s")
    line = f"job {job.number} {summary.get('status', 'unfinished')}: {', '.join(details)}"
    line = f"{line.rstrip(': ')} · {job.label}"
    console.print(shortened(line, JOB_LINE_WIDTH), markup=False, highlight=False)


def shortened(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def run_recording_failure(
    cfg: DictConfig, run_dir: Path, job: SweepJob, trial: "TrialLink | None"
) -> float | None:
    from runner.run import run

    try:
        check_sweep_settings(cfg)
        return run(cfg, run_dir, trial, draw_figures=cfg.sweep.job_figures == "job")
    except Stopped:  # on a cluster's signal, to be requeued: the launcher says so
        raise
    except KeyboardInterrupt:
        tell_interrupted(how_to_continue(job.sweep_dir))
        raise
    except DamagedFile as error:  # recorded nowhere: its summary may be the damaged file
        print(f"error: job {job.number} ({job.label}) not run: {error}", file=sys.stderr)
        return None
    except Exception as error:
        record_failure(run_dir, error)
        print(f"error: job {job.number} ({job.label}) failed: {first_line(error)}", file=sys.stderr)
        return None


def how_to_continue(sweep_dir: Path) -> str:
    """The line an interrupted sweep ends with: the command that runs the jobs it has left."""
    return (
        "\ninterrupted; continue the sweep with the same command and: "
        f"resume=true hydra.sweep.dir={sweep_dir}"
    )


def optuna_trial_of(cfg: DictConfig, job: SweepJob) -> "TrialLink | None":
    """The Optuna trial the job is; None under any other sweeper."""
    sweeper = OmegaConf.to_container(HydraConfig.get().sweeper, resolve=True)
    if sweeper.get("_target_") != OPTUNA_SWEEPER:
        return None
    from runner.search.trial import link_of_job

    return link_of_job(sweeper, OmegaConf.to_container(cfg.objective, resolve=True), job.number)
