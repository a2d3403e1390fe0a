"""The end of a sweep: every job's outcome in one table, best first, and in two files.

A Hydra callback, so it runs once in the process that launched the sweep whatever the
launcher and sweeper: basic, joblib, submitit or Optuna. It reads what each job left in its
directory (``.hydra/overrides.yaml``, ``summary.json``) rather than what the launcher returns,
so a rerun of a sweep with ``resume=true`` reports every job, this session's and earlier ones.
"""

import csv
import io
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from runner.console import console, format_value
from runner.files import read_json, write_json_atomically, write_text_atomically
from runner.overrides import without_resume

SWEEP_FAILED_EXIT_CODE = 1
TABLE_METRICS = 4  # key metrics shown beside the objective; the files hold them all
# How a job may end without failing the sweep: an Optuna search stopped it early on purpose
# (pruned), or queued its interrupted trial again as a new job (requeued).
ENDED_WELL = ("completed", "pruned", "requeued")
STATUS_STYLE = {"completed": "{}", "pruned": "[yellow]{}[/yellow]", "requeued": "[dim]{}[/dim]"}


@dataclass(frozen=True)
class JobOutcome:
    number: int
    overrides: list[str]
    status: str  # completed | pruned | requeued | failed | interrupted | skipped | unfinished
    run_dir: Path
    objective: str | None = None
    mode: str | None = None
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_time_s: float | None = None
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # those a sweep table asks for


def as_number(value: Any) -> float | None:
    """A number from ``summary.json``, where non-finite ones are stored as "nan" or "inf"."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_outcome(hydra_dir: Path, setting_keys: Sequence[str] = ()) -> JobOutcome:
    """The outcome of the job whose Hydra files are in ``hydra_dir``, with its settings of
    ``setting_keys``."""
    run_dir = hydra_dir.parent
    config = OmegaConf.load(hydra_dir / "config.yaml") if setting_keys else None
    settings = {key: OmegaConf.select(config, key) for key in setting_keys}
    overrides = without_resume(OmegaConf.load(hydra_dir / "overrides.yaml"))
    number = int(OmegaConf.load(hydra_dir / "hydra.yaml").hydra.job.num)
    summary = read_json(run_dir / "summary.json")
    objective = summary.get("objective") or {}
    return JobOutcome(
        number=number,
        overrides=overrides,
        status=summary.get("status", "unfinished"),
        run_dir=run_dir,
        objective=objective.get("metric"),
        mode=objective.get("mode"),
        value=as_number(objective.get("value")),
        metrics={name: as_number(v) for name, v in summary.get("metrics", {}).items()},
        wall_time_s=as_number(summary.get("wall_time_s")),
        error=summary.get("error"),
        settings=settings,
    )


def read_outcomes(sweep_dir: Path, setting_keys: Sequence[str] = ()) -> list[JobOutcome]:
    """Every job under ``sweep_dir``, in job order."""
    hydra_dirs = [p.parent for p in sweep_dir.glob("**/.hydra/hydra.yaml")]
    jobs = (read_outcome(d, setting_keys) for d in hydra_dirs)
    return sorted(jobs, key=lambda job: job.number)


def best_first(jobs: Sequence[JobOutcome]) -> list[JobOutcome]:
    """Completed jobs from the best objective to the worst, then pruned ones the same way,
    then the rest in job order."""

    def rank(job: JobOutcome) -> tuple[int, float, int]:
        group = {"completed": 0, "pruned": 2}.get(job.status)
        if group is None:
            return (4, 0.0, job.number)
        if job.value is None or not math.isfinite(job.value):
            return (group + 1, 0.0, job.number)
        return (group, -job.value if job.mode == "max" else job.value, job.number)

    return sorted(jobs, key=rank)


def common_overrides(jobs: Sequence[JobOutcome]) -> list[str]:
    """Overrides every job shares: said once, so each row shows only what varies."""
    if len(jobs) < 2:
        return []
    shared = set(jobs[0].overrides).intersection(*(job.overrides for job in jobs[1:]))
    return [o for o in jobs[0].overrides if o in shared]


def metric_names(jobs: Sequence[JobOutcome]) -> list[str]:
    return sorted({name for job in jobs for name in job.metrics})


def key_metrics(jobs: Sequence[JobOutcome]) -> list[str]:
    """The test metrics (else validation ones) other than the objective, for the table."""
    objectives = {job.objective for job in jobs}
    names = [n for n in metric_names(jobs) if n not in objectives]
    tested = [n for n in names if n.startswith("test/")]
    return (tested or [n for n in names if n.startswith("val/")])[:TABLE_METRICS]


def main_objective(jobs: Sequence[JobOutcome]) -> tuple[str | None, str | None]:
    """The objective most jobs report, with its mode."""
    named = Counter((job.objective, job.mode) for job in jobs if job.objective)
    return named.most_common(1)[0][0] if named else (None, None)


def sweep_table(jobs: Sequence[JobOutcome]) -> Table:
    shared = common_overrides(jobs)
    metric, mode = main_objective(jobs)
    table = Table(
        title=f"sweep: {len(jobs)} jobs, best first",
        caption=f"every job: {' '.join(shared)}" if shared else None,
        header_style="bold",
    )
    table.add_column("job", justify="right")
    table.add_column("overrides", overflow="fold")
    table.add_column("status")
    table.add_column(f"{metric} ({mode})" if metric else "objective", justify="right")
    names = key_metrics(jobs)
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("time", justify="right")
    for rank, job in enumerate(jobs):
        varying = " ".join(shortened(o) for o in job.overrides if o not in shared)
        status = STATUS_STYLE.get(job.status, "[red]{}[/red]").format(job.status)
        row = [str(job.number), varying, status, show(job.value)]
        row += [show(job.metrics.get(name)) for name in names]
        row.append("" if job.wall_time_s is None else f"{job.wall_time_s:.0f} s")
        best = rank == 0 and job.status == "completed"
        table.add_row(*row, style="bold green" if best else None)
    return table


def shortened(override: str) -> str:
    """``key=value`` with a long number cut to 4 significant digits, for the table (an Optuna
    trial's ``optim.lr=0.004430375245218269`` reads as ``optim.lr=0.00443``); the summary
    files keep every digit."""
    key, equals, value = override.partition("=")
    if not equals or len(value) <= 8:
        return override
    try:
        return f"{key}={float(value):.4g}"
    except ValueError:
        return override


def show(value: float | None) -> str:
    return "" if value is None else format_value(value)


@dataclass(frozen=True)
class CrossTable:
    """One metric by the settings of two axes, as a paper's table lays out its results.

    ``sweep.table`` in the config: ``rows`` (a setting), ``columns`` (one or more settings,
    whose values together name a column, e.g. ``"true cnn"``), ``metric``, and
    ``offset + scale · metric`` as the value shown (100 and -100 turn an accuracy into an
    error in %); ``labels`` renames columns.
    """

    rows: str
    columns: list[str]
    metric: str
    title: str = ""
    scale: float = 1.0
    offset: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> list[str]:
        return [self.rows, *self.columns]

    def cells(self, jobs: Sequence[JobOutcome]) -> dict[tuple[str, str], float | None]:
        """(row, column) → value, over the jobs in job order; None where a job did not complete."""
        cells: dict[tuple[str, str], float | None] = {}
        for job in sorted(jobs, key=lambda job: job.number):
            row = as_label(job.settings.get(self.rows))
            column = " ".join(as_label(job.settings.get(key)) for key in self.columns)
            column = self.labels.get(column, column)
            measured = job.metrics.get(self.metric) if job.status == "completed" else None
            cells[row, column] = None if measured is None else self.offset + self.scale * measured
        return cells

    def rich_table(self, jobs: Sequence[JobOutcome]) -> Table:
        cells = self.cells(jobs)
        rows = list(dict.fromkeys(row for row, _ in cells))
        columns = list(dict.fromkeys(column for _, column in cells))
        table = Table(title=self.title or self.metric, header_style="bold")
        table.add_column(self.rows)
        for column in columns:
            table.add_column(column, justify="right")
        for row in rows:
            values = [cells.get((row, column)) for column in columns]
            table.add_row(row, *("" if v is None else f"{v:.2f}" for v in values))
        return table

    def records(self, jobs: Sequence[JobOutcome]) -> list[dict[str, Any]]:
        return [
            {"row": row, "column": column, "value": value}
            for (row, column), value in self.cells(jobs).items()
        ]


def as_label(value: Any) -> str:
    """A setting's value as it is written in YAML and on the command line."""
    return str(value).lower() if isinstance(value, bool) else str(value)


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


def write_sweep_summary(
    jobs: Sequence[JobOutcome], sweep_dir: Path, cross_table: CrossTable | None = None
) -> None:
    """``sweep_summary.json`` and ``sweep_summary.csv``: the table's rows with every metric."""
    summary: dict[str, Any] = {
        "sweep_dir": str(sweep_dir),
        "counts": dict(Counter(job.status for job in jobs)),
        "jobs": [as_record(job) for job in jobs],
    }
    if cross_table is not None:
        summary["table"] = {"title": cross_table.title, "cells": cross_table.records(jobs)}
    write_json_atomically(summary, sweep_dir / "sweep_summary.json")
    names = metric_names(jobs)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(
        ["job", "overrides", "status", "objective", "mode", "value", "wall_time_s", "error", *names]
    )
    for job in jobs:
        writer.writerow(
            [job.number, " ".join(job.overrides), job.status, job.objective, job.mode,
             job.value, job.wall_time_s, job.error, *(job.metrics.get(n) for n in names)]
        )  # fmt: skip
    write_text_atomically(text.getvalue(), sweep_dir / "sweep_summary.csv")


class SweepReport(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if OmegaConf.select(config, "hydra.launcher.wait", default=True) is False:
            from runner.slurm.sweep import collect_command

            console.print(
                "the jobs are queued and run without this command; collect their results and "
                f"the sweep report with:\n  {collect_command(config)}",
                soft_wrap=True,
            )
            return
        table_config = OmegaConf.select(config, "sweep.table")
        cross_table = CrossTable(**OmegaConf.to_container(table_config)) if table_config else None
        jobs = best_first(read_outcomes(sweep_dir, cross_table.settings if cross_table else ()))
        if not jobs:
            return
        write_sweep_summary(jobs, sweep_dir, cross_table)
        console.print(sweep_table(jobs))
        if cross_table is not None:
            console.print(cross_table.rich_table(jobs))
        console.print(f"sweep summary: {sweep_dir / 'sweep_summary.csv'} (and .json)")
        not_completed = [job for job in jobs if job.status not in ENDED_WELL]
        if not_completed:
            listed = "; ".join(
                f"job {j.number} {j.status}: {j.error or 'no summary'}" for j in not_completed
            )
            print(
                f"error: {len(not_completed)} of {len(jobs)} jobs did not complete ({listed})",
                file=sys.stderr,
            )
            # Callbacks' exceptions become warnings in Hydra; SystemExit is how a callback
            # makes the sweep's exit status say that jobs failed.
            raise SystemExit(SWEEP_FAILED_EXIT_CODE)
