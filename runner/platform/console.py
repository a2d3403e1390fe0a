"""The terminal every part of the runner prints to, and how much a run shows on it."""

import os

from rich.console import Console

console = Console(soft_wrap=True)


class Display:
    """How much a run shows: everything (its config tree, a line per validation, the summary
    table), or, as a job of a sweep, only the progress bar, which clears when the job ends.
    The sweep prints one line as each job starts and ends, and the job's files keep the rest
    (``config_tree.txt``, ``metrics.jsonl``, ``summary.json``)."""

    detailed = True


def brief_output() -> None:
    """Show a run as a job of a sweep does (:class:`Display`)."""
    Display.detailed = False


LIVE_SWEEP = "RUNNER_LIVE_SWEEP"
"""Set by a sweep that shows its jobs in one live display (:mod:`runner.sweeps.live`), for
its jobs, in its process or in the workers it starts."""


def live_sweep_display() -> bool:
    """Whether this process runs jobs of a sweep whose live display says how each ends (a
    SLURM job's lines go to its log, which the display does not replace)."""
    return os.environ.get(LIVE_SWEEP) == "1" and "SLURM_JOB_ID" not in os.environ


def plain_output() -> None:
    """Print lines only: for jobs that share a terminal, whose live displays would collide."""
    console.is_interactive = False


def format_value(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
