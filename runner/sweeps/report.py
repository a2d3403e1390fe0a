"""The end of a sweep: every job's outcome in one table, best first; the settings pooled
over seeds when the sweep varies them; the sweep's figures; two summary files.

A Hydra callback, so it runs once in the process that launched the sweep whatever the
launcher and sweeper: basic, joblib, submitit or Optuna. It reads what each job left in its
directory (``.hydra/overrides.yaml``, ``summary.json``, ``metrics.jsonl``) rather than what the
launcher returns, so a rerun of a sweep with ``resume=true`` reports every job, this
session's and earlier ones.
"""

import csv
import io
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner.platform.console import console
from runner.platform.errors import unwritable_place
from runner.platform.files import write_json_atomically, write_text_atomically
from runner.sweeps.cross_table import CrossTable
from runner.sweeps.figures import FigureSpec, draw_sweep_figures, figure_specs
from runner.sweeps.job_figures import draw_job_figures
from runner.sweeps.labels import shared_overrides, varies_seed
from runner.sweeps.outcomes import (
    JobOutcome,
    best_first,
    common_overrides,
    key_metrics,
    main_objective,
    metric_names,
    read_outcomes,
)
from runner.sweeps.seeds import Estimate, Setting, best_by_mean, pool_seeds
from runner.sweeps.table import Column, FittedTable, fitted, override_columns, show
from runner.sweeps.wandb_report import mirror_sweep

SWEEP_FAILED_EXIT_CODE = 1
# How a job may end without failing the sweep: an Optuna search stopped it early on purpose
# (pruned), or queued its interrupted trial again as a new job (requeued).
ENDED_WELL = ("completed", "pruned", "requeued")
STATUS_STYLE = {"completed": "{}", "pruned": "[yellow]{}[/yellow]", "requeued": "[dim]{}[/dim]"}
BEST_STYLE = "bold green"
SHOWN_BEST, SHOWN_WORST = 10, 5  # the rows of a large sweep's tables
REPORT_WIDTH = 100  # columns at most, whatever the terminal's width


def best_and_worst(rows: Sequence[Any]) -> tuple[list[Any], int]:
    """The rows a table shows of ``rows`` (best first): all, or the :data:`SHOWN_BEST` best
    and the :data:`SHOWN_WORST` worst; and how many it leaves out."""
    if len(rows) <= SHOWN_BEST + SHOWN_WORST:
        return list(rows), 0
    return [*rows[:SHOWN_BEST], *rows[-SHOWN_WORST:]], len(rows) - SHOWN_BEST - SHOWN_WORST


def left_out_caption(left_out: int) -> str | None:
    if not left_out:
        return None
    return (f"the {SHOWN_BEST} best and the {SHOWN_WORST} worst; the other {left_out} are in "
            "sweep_summary.csv")  # fmt: skip


def status_counts(jobs: Sequence[JobOutcome]) -> str:
    return ", ".join(
        f"{count} {status}" for status, count in Counter(j.status for j in jobs).items()
    )


def jobs_table(all_jobs: Sequence[JobOutcome], width: int) -> FittedTable:
    """The jobs, best first (as :func:`best_first` orders them), fitted to ``width``: all of
    them, or the best and the worst of a large sweep."""
    jobs, left_out = best_and_worst(all_jobs)
    shared = common_overrides(all_jobs)
    metric, mode = main_objective(all_jobs)
    columns = [
        Column("job", [str(job.number) for job in jobs], "right"),
        *override_columns([job.overrides for job in jobs], shared),
        Column(
            "status", [STATUS_STYLE.get(j.status, "[red]{}[/red]").format(j.status) for j in jobs]
        ),
        Column(metric or "objective", [show(job.value) for job in jobs], "right"),
        *(
            Column(name, [show(job.metrics.get(name)) for job in jobs], "right", optional=True)
            for name in key_metrics(jobs)
        ),
        Column("time", [time_taken(job.wall_time_s) for job in jobs], "right"),
    ]
    styles = [BEST_STYLE if i == 0 and job.status == "completed" else None for i, job in enumerate(jobs)]  # fmt: skip
    title = f"sweep: {len(all_jobs)} jobs ({status_counts(all_jobs)}), best first"
    title += f" by {metric} ({mode})" if metric else ""
    said = [f"every job: {' '.join(shared)}" if shared else None, left_out_caption(left_out)]
    caption = "; ".join(line for line in said if line) or None
    return fitted(title, columns, width, caption, styles)


def time_taken(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.0f} s"


def seeds_table(
    all_settings: Sequence[Setting], metrics: Sequence[str], objective: str, width: int
) -> FittedTable:
    """Each setting's mean ± standard deviation over its seeds, and the 95% interval of the
    objective's mean, best mean first (the best and the worst of many)."""
    settings, left_out = best_and_worst(all_settings)
    shared = shared_overrides([setting.overrides for setting in settings])
    columns = [
        *override_columns([setting.overrides for setting in settings], shared),
        Column("seeds", [seeds_count(setting) for setting in settings], "right"),
        Column(f"{objective} mean ± sd", [spread(s.objective) for s in settings], "right"),
        Column("95% interval", [interval(s.objective) for s in settings], "right"),
        *(
            Column(f"{name} mean ± sd", [spread(s.metrics.get(name)) for s in settings], "right",
                   optional=True)
            for name in metrics
        ),
    ]  # fmt: skip
    styles = [BEST_STYLE if i == 0 and s.objective else None for i, s in enumerate(settings)]
    title = f"over seeds: {len(all_settings)} settings, best mean first"
    return fitted(title, columns, width, left_out_caption(left_out), styles)


def seeds_count(setting: Setting) -> str:
    completed = setting.objective.n if setting.objective else 0
    return f"{completed}/{len(setting.jobs)}"


def spread(estimate: Estimate | None) -> str:
    if estimate is None:
        return ""
    if estimate.std is None:
        return show(estimate.mean)
    return f"{show(estimate.mean)} ± {show(estimate.std)}"


def interval(estimate: Estimate | None) -> str:
    if estimate is None or estimate.low is None or estimate.high is None:
        return ""
    return f"[{show(estimate.low)}, {show(estimate.high)}]"


def as_record(job: JobOutcome) -> dict[str, Any]:
    return {
        "job": job.number,
        "overrides": job.overrides,
        "status": job.status,
        "objective": {"metric": job.objective, "mode": job.mode, "value": job.value},
        "metrics": job.metrics,
        "wall_time_s": job.wall_time_s,
        "error": job.error,
        "run_dir": str(job.run_dir),
    }


def setting_record(setting: Setting) -> dict[str, Any]:
    return {
        "overrides": list(setting.overrides),
        "jobs": list(setting.jobs),
        "objective": setting.objective.as_record() if setting.objective else None,
        "metrics": {name: estimate.as_record() for name, estimate in setting.metrics.items()},
    }


def write_sweep_summary(
    jobs: Sequence[JobOutcome],
    sweep_dir: Path,
    cross_table: CrossTable | None = None,
    settings: Sequence[Setting] = (),
) -> None:
    """``sweep_summary.json`` and ``sweep_summary.csv``: the table's rows with every metric.

    With ``settings`` (a sweep over seeds), the JSON lists them best mean first under
    ``seeds``, and each CSV row also carries its setting's mean, standard deviation and 95%
    interval of the objective and of the pooled metrics.
    """
    write_json_atomically(summary_record(jobs, sweep_dir, cross_table, settings),
                          sweep_dir / "sweep_summary.json")  # fmt: skip
    write_text_atomically(summary_csv(jobs, settings), sweep_dir / "sweep_summary.csv")


def summary_record(
    jobs: Sequence[JobOutcome],
    sweep_dir: Path,
    cross_table: CrossTable | None,
    settings: Sequence[Setting],
) -> dict[str, Any]:
    """What ``sweep_summary.json`` holds."""
    summary: dict[str, Any] = {
        "sweep_dir": str(sweep_dir),
        "counts": dict(Counter(job.status for job in jobs)),
        "jobs": [as_record(job) for job in jobs],
    }
    if cross_table is not None:
        summary["table"] = {"title": cross_table.title, "cells": cross_table.records(jobs)}
    if settings:
        records = [setting_record(setting) for setting in settings]
        summary["seeds"] = {
            "best": records[0] if settings[0].objective else None,
            "settings": records,
        }
    return summary


CSV_COLUMNS = ["job", "overrides", "status", "objective", "mode", "value", "wall_time_s", "error"]
POOLED_PARTS = ("mean", "std", "ci95_low", "ci95_high")


def summary_csv(jobs: Sequence[JobOutcome], settings: Sequence[Setting]) -> str:
    """What ``sweep_summary.csv`` holds: a row per job, every metric a column, and with
    seeds pooled, each setting's statistics beside its jobs."""
    names = metric_names(jobs)
    pooled = ["objective", *sorted({name for s in settings for name in s.metrics})]
    setting_of = {number: s for s in settings for number in s.jobs}
    text = io.StringIO()
    writer = csv.writer(text)
    header = [*CSV_COLUMNS, *names]
    if settings:
        header += [f"{name} {part}" for name in pooled for part in POOLED_PARTS]
    writer.writerow(header)
    for job in jobs:
        row = [job.number, " ".join(job.overrides), job.status, job.objective, job.mode,
               job.value, job.wall_time_s, job.error, *(job.metrics.get(n) for n in names)]  # fmt: skip
        if settings:
            row += pooled_cells(setting_of.get(job.number), pooled)
        writer.writerow(row)
    return text.getvalue()


def pooled_cells(setting: Setting | None, names: Sequence[str]) -> list[float | None]:
    cells: list[float | None] = []
    for name in names:
        estimate = None
        if setting is not None:
            estimate = setting.objective if name == "objective" else setting.metrics.get(name)
        fields = (
            (estimate.mean, estimate.std, estimate.low, estimate.high) if estimate else (None,) * 4
        )
        cells += list(fields)
    return cells


@dataclass(frozen=True)
class ReportPlan:
    """What a sweep's config asks its report for beyond the jobs' table: a paper's table
    (``sweep.table``) and figures (``sweep.figures``), and the settings they sort jobs by."""

    cross_table: CrossTable | None
    specs: dict[str, FigureSpec]

    @classmethod
    def of(cls, config: DictConfig) -> "ReportPlan":
        table = OmegaConf.select(config, "sweep.table")
        entries = OmegaConf.select(config, "sweep.figures")
        return cls(
            CrossTable(**OmegaConf.to_container(table)) if table else None,
            figure_specs(OmegaConf.to_container(entries, resolve=True) if entries else None),
        )

    @property
    def setting_keys(self) -> list[str]:
        keys = [key for spec in self.specs.values() for key in getattr(spec, "settings", [])]
        if self.cross_table is not None:
            keys += self.cross_table.settings
        return list(dict.fromkeys(keys))


class SweepReport(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            report(config)
        except OSError as error:
            place = unwritable_place(error)
            if place is None:
                raise
            print(f"error: {place}; the sweep's report goes to hydra.sweep.dir", file=sys.stderr)
            raise SystemExit(SWEEP_FAILED_EXIT_CODE) from None


def report(config: DictConfig) -> None:
    """The report of the sweep of ``config``: tables, summary files, figures, W&B run; exit
    status 1 when a job did not complete."""
    sweep_dir = Path(config.hydra.sweep.dir)
    if OmegaConf.select(config, "hydra.launcher.wait", default=True) is False:
        say_how_to_collect(config)
        return
    plan = ReportPlan.of(config)
    jobs = best_first(read_outcomes(sweep_dir, plan.setting_keys))
    if not jobs:
        return
    settings = seed_settings(jobs)
    write_sweep_summary(jobs, sweep_dir, plan.cross_table, settings)
    show_tables(jobs, settings, plan.cross_table)
    figures = draw_sweep_figures(jobs, sweep_dir, plan.specs, plan.cross_table)
    say_where(sweep_dir, figures, draw_job_figures(jobs, sweep_dir))
    mirror_sweep(config, sweep_dir, figures, jobs)
    exit_if_jobs_failed(jobs)


def say_how_to_collect(config: DictConfig) -> None:
    """The jobs were queued on SLURM without waiting: the command that collects them."""
    from runner.slurm.sweep import collect_command

    console.print(
        "the jobs are queued and run without this command; collect their results and "
        f"the sweep report with:\n  {collect_command(config)}",
        soft_wrap=True,
    )


def seed_settings(jobs: Sequence[JobOutcome]) -> list[Setting]:
    """The jobs pooled by setting over their seeds, best mean first; none when the sweep
    does not vary the seed."""
    if not varies_seed([job.overrides for job in jobs]):
        return []
    _, mode = main_objective(jobs)
    return best_by_mean(pool_seeds(jobs, key_metrics(jobs)), mode)


def show_tables(
    jobs: Sequence[JobOutcome], settings: Sequence[Setting], cross_table: CrossTable | None
) -> None:
    width = min(console.width, REPORT_WIDTH)
    show_fitted(jobs_table(jobs, width), width)
    if settings:
        metric, _ = main_objective(jobs)
        pooled = key_metrics(jobs)
        show_fitted(seeds_table(settings, pooled, metric or "objective", width), width)
    if cross_table is not None:
        console.print(cross_table.rich_table(jobs))


def say_where(sweep_dir: Path, figures: dict[str, Path], job_figures: str | None) -> None:
    console.print(f"sweep summary: {sweep_dir / 'sweep_summary.csv'} (and .json)", soft_wrap=True)
    if figures:
        console.print(f"sweep figures: {sweep_dir / 'figures'} ({len(figures)})", soft_wrap=True)
    if job_figures:
        console.print(job_figures, soft_wrap=True, markup=False, highlight=False)


def exit_if_jobs_failed(jobs: Sequence[JobOutcome]) -> None:
    """One line listing the jobs that did not complete, and the sweep's exit status 1.

    Callbacks' exceptions become warnings in Hydra; SystemExit is how a callback makes the
    sweep's exit status say that jobs failed.
    """
    not_completed = [job for job in jobs if job.status not in ENDED_WELL]
    if not not_completed:
        return
    listed = "; ".join(
        f"job {j.number} {j.status}: {j.error or 'no summary'}" for j in not_completed
    )
    print(
        f"error: {len(not_completed)} of {len(jobs)} jobs did not complete ({listed})",
        file=sys.stderr,
    )
    raise SystemExit(SWEEP_FAILED_EXIT_CODE)


def show_fitted(fitted_table: FittedTable, width: int) -> None:
    console.print(fitted_table.table, width=width)
    for line in fitted_table.lines_below(width):
        console.print(line, markup=False, highlight=False)
