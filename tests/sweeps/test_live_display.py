"""A sweep on a terminal shows one live display (runner/sweeps/live.py); not on a terminal,
a line per job. The terminal is a real pseudo-terminal, as a user's would be."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from runner.sweeps.live import SweepTally, best_line, time_left
from runner.sweeps.outcomes import JobOutcome
from tests.conftest import REPO, SMALL, cli_environment, run_cli

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
TINY = ["model=logreg", "trainer.max_steps=2", "seed=range(0,4)"]


def on_a_terminal(
    arguments: list[str], interrupt_on: str | None = None, timeout_s: float = 300
) -> tuple[int, str]:
    """``python -m runner ARGUMENTS`` with a pseudo-terminal of 100 columns as its stdin,
    stdout and stderr: its exit status and everything it wrote, the terminal's escape codes
    removed. Ctrl-C (SIGINT) once it has written ``interrupt_on``."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = cli_environment(TERM="xterm-256color")
    env.pop("COLUMNS", None)
    process = subprocess.Popen([sys.executable, "-m", "runner", *arguments], cwd=REPO, env=env,
                               stdin=terminal, stdout=terminal, stderr=terminal)  # fmt: skip
    os.close(terminal)
    written, deadline = bytearray(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's last writer has gone
            break
        if not chunk:
            break
        written += chunk
        if interrupt_on and interrupt_on in written.decode(errors="replace"):
            process.send_signal(signal.SIGINT)
            interrupt_on = None
    os.close(controller)
    status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    text = written.decode(errors="replace")
    assert text.count(SHOW_CURSOR) >= text.count(HIDE_CURSOR), "the cursor was left hidden"
    return status, ESCAPES.sub("", text).replace("\r", "\n")


@pytest.mark.slow
def test_a_sweep_on_a_terminal_shows_one_live_display(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    status, shown = on_a_terminal(["-m", *SMALL, f"data.root={data_root}", *TINY,
                                   "optim.lr=0.1,0.01", f"hydra.sweep.dir={sweep_dir}"])  # fmt: skip
    assert status == 0, shown
    assert "8/8 jobs ended" in shown
    assert "done 8 · failed 0 · skipped 0 · running 0" in shown
    best = re.findall(r"best: job (\d+) val/acc [\d.]+ · (seed=\d optim\.lr=[\d.]+)", shown)
    assert best, shown
    assert not re.search(r"^job \d+ completed", shown, re.MULTILINE)  # no line per job
    assert "sweep: 8 jobs (8 completed)" in shown  # the report, after the display
    display = [line for line in shown.splitlines() if "jobs ended" in line or "best:" in line]
    assert max(len(line) for line in display) <= 100


@pytest.mark.slow
def test_a_failure_is_counted_and_still_said(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    status, shown = on_a_terminal(["-m", *SMALL, f"data.root={data_root}", "model=logreg",
                                   "trainer.max_steps=2", "optim.lr=0.1,inf",
                                   f"hydra.sweep.dir={sweep_dir}"])  # fmt: skip
    assert status != 0
    assert "done 1 · failed 1" in shown, shown
    assert re.search(r"error: job 1 \(.*optim\.lr=inf\) failed: training diverged", shown), shown


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_and_gives_the_terminal_back(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    status, shown = on_a_terminal(["-m", *SMALL, f"data.root={data_root}", "model=logreg",
                                   "trainer.max_steps=2", "seed=range(0,50)",
                                   f"hydra.sweep.dir={sweep_dir}"], interrupt_on="done 2")  # fmt: skip
    assert status == 130, shown
    assert "interrupted" in shown
    assert len(list(sweep_dir.glob("*/summary.json"))) < 50


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_the_parallel_launchers_jobs_are_shown_in_the_display(data_root, tmp_path, launcher):
    """Their workers get Hydra's callbacks pickled: the display stays in the sweep's process,
    and the workers, told by the environment, say nothing as their jobs end."""
    sweep_dir = tmp_path / "sweep"
    status, shown = on_a_terminal(["-m", f"hydra/launcher={launcher}", *SMALL,
                                   f"data.root={data_root}", *TINY,
                                   f"hydra.sweep.dir={sweep_dir}"])  # fmt: skip
    assert status == 0, shown
    assert "4/4 jobs ended" in shown and "done 4 · failed 0" in shown
    assert not re.search(r"^job \d+ completed", shown, re.MULTILINE)


@pytest.mark.slow
def test_without_a_terminal_each_job_says_one_line(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", *SMALL, f"data.root={data_root}", *TINY,
                     f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^job \d completed", result.stdout, re.MULTILINE)) == 4
    assert "jobs ended" not in result.stdout + result.stderr


def outcome(number: int, status: str, value: float | None, mode: str = "max") -> JobOutcome:
    overrides = [f"seed={number}", "optim.lr=0.1", "logger=none"]
    return JobOutcome(number, overrides, status, run_dir=None, objective="val/acc",  # type: ignore[arg-type]
                      mode=mode, value=value)  # fmt: skip


def test_the_tally_counts_the_ended_jobs_by_how_they_ended(tmp_path):
    tally = SweepTally(tmp_path, total=4, swept=["seed"])
    for job in (outcome(0, "completed", 0.5), outcome(1, "failed", None),
                outcome(2, "pruned", 0.7), outcome(3, "skipped", None)):  # fmt: skip
        tally.ended[str(job.number)] = job
    assert tally.counts() == {"done": 2, "failed": 1, "skipped": 1}
    assert (
        best_line(outcome(2, "completed", 0.7), ["seed"]) == "best: job 2 val/acc 0.7000 · seed=2"
    )
    assert time_left(total=10, ended=4, rate=2.0) == "0:00:03 left"
    assert time_left(total=None, ended=4, rate=2.0) == ""


@pytest.mark.parametrize(
    ("values", "mode", "best"), [((0.5, 0.7, 0.6), "max", 1), ((0.5, 0.7, 0.4), "min", 2)]
)
def test_the_best_job_follows_the_mode(values, mode, best):
    from runner.sweeps.live import is_better

    chosen = None
    for number, value in enumerate(values):
        job = outcome(number, "completed", value, mode)
        if is_better(job, chosen):
            chosen = job
    assert chosen is not None and chosen.number == best
