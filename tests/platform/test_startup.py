"""runner.platform.startup: the clock behind perf/startup_s."""

import time

import pytest

from runner.platform import startup


def test_the_process_started_before_now_and_after_the_interpreter_did_its_imports() -> None:
    started = startup.process_started()
    if started is None:
        pytest.skip("no /proc on this system")
    # pytest itself has been running for a while; its process is at most a day old
    assert time.time() - 86_400 < started < time.time() - 0.05


def test_the_first_job_counts_from_the_process_start_a_later_one_from_its_own(monkeypatch):
    monkeypatch.setattr(startup, "_job_started", None)
    assert startup.seconds_since_job_start() is None  # the Python API: no job, no figure
    startup.mark_job_start()
    first = startup.seconds_since_job_start()
    assert first is not None and first > 0.05  # the interpreter and pytest's imports
    startup.mark_job_start()  # the next job of the same process (a reused worker)
    assert 0 <= startup.seconds_since_job_start() < min(first, 1.0)
