"""When the job began: the clock behind ``perf/startup_s``, the wait before the first step.

A job starts with its process (``python -m runner``, a torchrun rank, a SLURM task, a fresh
sweep worker), so the wait is counted from the process's start, interpreter and imports
included; a later job of the same process (the basic launcher's next job, a reused joblib
worker) starts when Hydra calls its task function.
"""

import os
import time
from pathlib import Path

_job_started: float | None = None
"""Wall-clock time (``time.time()``) at which the current job began; None outside a job."""


def process_started() -> float | None:
    """Wall-clock time at which this process started, from ``/proc`` (Linux; else None).

    ``/proc/self/stat`` gives the start in clock ticks since boot (10 ms resolution).
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    except (OSError, IndexError, ValueError):
        return None
    ticks_since_boot = int(fields[19])  # field 22 of stat(5); [0] is field 3
    age = uptime - ticks_since_boot / os.sysconf("SC_CLK_TCK")
    return time.time() - age


def mark_job_start() -> None:
    """Note that a job begins now: at the process's start for its first job."""
    global _job_started
    first_job = _job_started is None
    _job_started = (process_started() if first_job else None) or time.time()


def seconds_since_job_start() -> float | None:
    """Seconds since the current job began, or None when no job was marked (the Python API)."""
    return None if _job_started is None else time.time() - _job_started
