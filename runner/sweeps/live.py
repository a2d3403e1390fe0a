"""A sweep's progress on a terminal: one live display for the whole sweep instead of a line
per job.

On a terminal, the sweep's process shows how many jobs are done, failed, skipped and
running, the rate, the time left, and the best job so far with its overrides, read from what
the jobs leave in the sweep directory (each job's ``summary.json``), so that it follows jobs
run by any launcher: in this process, in joblib's workers, or on the local machine by
submitit. The jobs then say nothing as they end, but for a failure. Not on a terminal (a log
file, a SLURM job), nothing changes: a line per job.
"""

import atexit
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runner.platform.console import LIVE_SWEEP, console, format_value
from runner.platform.environment import in_slurm_job
from runner.sweeps.outcomes import JobOutcome, read_outcome

REFRESHES_PER_S = 2
ENDED = {"completed": "done", "pruned": "done", "failed": "failed", "skipped": "skipped"}
WIDTH = 100  # columns the display keeps to
BAR_WIDTH = 40


@dataclass
class SweepTally:
    """What the jobs of a sweep have left in its directory, counted as they end."""

    sweep_dir: Path
    total: int | None
    started: float = field(default_factory=time.monotonic)
    ended: dict[str, JobOutcome] = field(default_factory=dict)  # by job directory
    ended_before: int | None = None  # by an earlier session of a resumed sweep
    swept: Sequence[str] = ()  # the keys the sweep varies, shown for the best job
    running: int = 0
    best: JobOutcome | None = None

    def update(self) -> None:
        """Read the jobs that ended since the last look; count those still running."""
        running = 0
        for name in self.job_directories():
            if name not in self.ended and not self.read_if_ended(self.sweep_dir / name):
                running += 1
        self.running = running
        if self.ended_before is None:
            self.ended_before = len(self.ended)

    def job_directories(self) -> list[str]:
        if not self.sweep_dir.is_dir():
            return []
        return [entry.name for entry in os.scandir(self.sweep_dir)
                if entry.name.isdigit() and entry.is_dir()]  # fmt: skip

    def read_if_ended(self, job_dir: Path) -> bool:
        if not (job_dir / "summary.json").is_file():
            return False
        try:
            outcome = read_outcome(job_dir / ".hydra")
        except (OSError, ValueError, TypeError, KeyError):  # being written: read it next time
            return False
        if outcome.status not in ENDED:
            return False
        self.ended[job_dir.name] = outcome
        if is_better(outcome, self.best):
            self.best = outcome
        return True

    def counts(self) -> dict[str, int]:
        counted = {"done": 0, "failed": 0, "skipped": 0}
        for outcome in self.ended.values():
            counted[ENDED[outcome.status]] += 1
        return counted

    def rate(self) -> float | None:
        """Jobs ended per second in this session of the sweep."""
        elapsed = time.monotonic() - self.started
        ended_now = len(self.ended) - (self.ended_before or 0)
        return ended_now / elapsed if ended_now and elapsed > 0 else None

    def render(self) -> Any:
        """The display: a bar of the jobs ended, the counts, the rate and time left, the best."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        self.update()
        ended, counts, rate = len(self.ended), self.counts(), self.rate()
        bar = Table.grid(padding=(0, 1))
        of = f"/{self.total}" if self.total else ""
        if self.total:
            bar.add_row(ProgressBar(total=self.total, completed=ended, width=BAR_WIDTH),
                        Text(f"{ended}{of} jobs ended"))  # fmt: skip
        else:
            bar.add_row(Text(f"{ended} jobs ended"))
        states = [*counts.items(), ("running", self.running)]
        pace = [f"{rate:.2f} jobs/s" if rate else "", time_left(self.total, ended, rate)]
        lines = [" · ".join(f"{state} {count}" for state, count in states),
                 " · ".join(p for p in pace if p)]  # fmt: skip
        if self.best is not None:
            lines.append(best_line(self.best, self.swept))
        return Group(bar, *(Text(shortened(line)) for line in lines if line))


def is_better(outcome: JobOutcome, best: JobOutcome | None) -> bool:
    """Whether ``outcome`` beats ``best`` on its objective (any value beats none)."""
    if outcome.value is None or outcome.status not in ("completed", "pruned"):
        return False
    if best is None or best.value is None:
        return True
    return outcome.value > best.value if outcome.mode == "max" else outcome.value < best.value


def time_left(total: int | None, ended: int, rate: float | None) -> str:
    if not total or not rate:
        return ""
    seconds = round((total - ended) / rate)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d} left"


def best_line(best: JobOutcome, swept: Sequence[str]) -> str:
    """The best job: its number, objective and the values of the keys the sweep varies."""
    value = format_value(best.value) if best.value is not None else "-"
    varied = [o for o in best.overrides if o.split("=")[0].lstrip("+~") in swept]
    return f"best: job {best.number} {best.objective} {value} · {' '.join(varied)}"


def shortened(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def total_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep will run, where its sweeper says: the basic sweeper's product
    of values, an Optuna search's trials."""
    from runner.sweeps.batching import BASIC_SWEEPER, job_count

    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") == BASIC_SWEEPER:
        return job_count(config)
    trials = sweeper.get("n_trials")
    return trials if isinstance(trials, int) else None


def swept_keys_of(config: DictConfig) -> list[str]:
    """The keys the sweep of ``config`` (its Hydra config) varies, from its overrides and
    its Optuna search space."""
    from runner.sweeps.values import search_space, swept_keys, task_overrides

    keys = swept_keys(task_overrides(config), set(), search_space(config))
    return [key.key for key in keys]


class SweepProgress(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``, last: Hydra ends the
    callbacks in reverse order, so the display stops before the sweep's report is printed."""

    def __init__(self) -> None:
        self.live: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """A launcher that sends Hydra's callbacks to its workers (joblib, submitit) sends
        this without the display, which stays in the sweep's process."""
        return {"live": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not console.is_terminal or console.is_dumb_terminal or in_slurm_job():
            return
        from rich.live import Live

        tally = SweepTally(
            Path(config.hydra.sweep.dir), total_jobs(config), swept=swept_keys_of(config)
        )
        os.environ[LIVE_SWEEP] = "1"  # the jobs, here or in the workers started from here
        self.live = Live(
            get_renderable=tally.render, console=console, refresh_per_second=REFRESHES_PER_S
        )
        self.live.start()
        atexit.register(self.stop)  # stopped by Ctrl-C too: the terminal's cursor given back

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()  # draws the display a last time, with every job counted
            self.live = None
            os.environ.pop(LIVE_SWEEP, None)
