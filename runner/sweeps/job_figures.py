"""The jobs' own figures, drawn after the sweep by worker processes.

A job of a sweep does not wait for the figures drawn from its files (``curves.png``, its
line plots): in a sweep of tiny jobs that drawing was half of each job's time. When the
sweep ends, they are drawn for the jobs that have none yet, a process per core; above
:data:`DRAWN_AT_MOST` jobs they are left to ``python -m runner.plot``, so that the report
comes at once whatever the sweep's size. ``sweep.job_figures=job`` has each job draw its own.
"""

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from runner.platform.children import die_with_parent
from runner.records.run_figures import CURVES, draw_run_figures
from runner.sweeps.outcomes import JobOutcome

DRAWN_AT_MOST = 100
CURVES_FILE = f"{CURVES}.png"


def undrawn(jobs: Sequence[JobOutcome]) -> list[JobOutcome]:
    """The jobs that logged metrics and have no ``curves.png`` yet."""
    return [
        job for job in jobs
        if (job.run_dir / "metrics.jsonl").is_file()
        and not (job.run_dir / "figures" / CURVES_FILE).exists()
    ]  # fmt: skip


def draw_one(run_dir: str, title: str) -> int:
    return len(draw_run_figures(Path(run_dir), title))


def draw_job_figures(jobs: Sequence[JobOutcome], sweep_dir: Path) -> str | None:
    """Draw the figures of the jobs that have none, in worker processes; a line saying
    where they are, or how to draw them (None when there was nothing to draw)."""
    todo = undrawn(jobs)
    if not todo:
        return None
    if len(todo) > DRAWN_AT_MOST:
        return (
            f"jobs' curves: not drawn for {len(todo)} jobs (more than {DRAWN_AT_MOST}); draw one "
            f"with: python -m runner.plot {sweep_dir}/<job> --out {sweep_dir}/<job>/figures/curves.png"
        )
    workers = min(len(todo), os.cpu_count() or 1)
    method = "fork" if sys.platform == "linux" else "spawn"  # fork: no imports to repeat
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        titles = [f"job {job.number}: {' '.join(job.overrides)}" for job in todo]
        list(pool.map(draw_one, [str(job.run_dir) for job in todo], titles))
    return f"jobs' curves: {sweep_dir}/<job>/figures/curves.png ({len(todo)} drawn)"
