"""Stopping a run on request (a scheduler's signal): checkpoint at the next step, stop, resume."""

import json
import signal

import pytest
import torch

from runner.platform.stopping import REQUESTS, Stopped, answer_scheduler_signals
from runner.records.metrics import read_metrics
from runner.train import run
from runner.training.checkpoint import Checkpointer
from tests.conftest import without_timings

SIGNAL_AT = ["model._target_=tests.crashing.SignallingSTN", "+model.signal_at_step=33"]


@pytest.fixture
def scheduler_signals():
    """SIGTERM and SIGUSR2 answered as in a SLURM job, for the test's duration."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR2)}
    answer_scheduler_signals(signal.SIGUSR2)
    yield
    REQUESTS.clear()
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_stop_signal_checkpoints_mid_window_and_the_resumed_run_logs_the_same(
    make_config, tmp_path, scheduler_signals
):
    whole = run(make_config(), tmp_path / "whole")

    stopped = tmp_path / "stopped"
    with pytest.raises(Stopped, match="stopped by SIGUSR2 at step 33"):
        run(make_config(*SIGNAL_AT, "+model.signal_name=SIGUSR2"), stopped)
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "SIGUSR2" in summary["error"]
    state = torch.load(stopped / "checkpoints/last.pt", weights_only=True)["state"]
    assert (state["step"], state["batch"]) == (33, 2)  # 31 batches an epoch
    assert state["window_means"]["steps"] == 2  # steps 32 and 33, logged at 40

    assert (
        run(make_config(*SIGNAL_AT, "+model.signal_name=SIGUSR2", "resume=true"), stopped) == whole
    )
    assert without_timings(read_metrics(stopped / "metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )


def test_sigterm_in_a_slurm_job_checkpoints_and_training_goes_on(
    make_config, tmp_path, scheduler_signals, monkeypatch
):
    whole = run(make_config(), tmp_path / "whole")
    saved_at = []
    save_last = Checkpointer.save_last

    def recording_save_last(self, state):
        saved_at.append(state.step)
        save_last(self, state)

    monkeypatch.setattr(Checkpointer, "save_last", recording_save_last)
    value = run(make_config(*SIGNAL_AT, "+model.signal_name=SIGTERM"), tmp_path / "signalled")
    assert value == whole
    assert saved_at == [31, 33, 62]  # the epoch ends (31 batches each), and step 33, asked for
