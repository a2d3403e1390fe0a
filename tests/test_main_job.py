"""Long end-to-end checks, left out of the default suite (`make test-all` runs them)."""

import json
import signal
import subprocess
import sys
import time

import pytest

from runner.records.metrics import read_metrics
from tests.conftest import REPO, SMALL, run_cli

pytestmark = pytest.mark.slow


def test_the_main_job_reaches_97_percent(tmp_path):
    """The main command of the README, unchanged but for where it writes."""
    result = run_cli(
        f"hydra.run.dir={tmp_path}", f"data.root={tmp_path / 'data'}", "logger=none", timeout=600
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["test/acc"] >= 0.97
    assert "test/acc" in result.stdout


def test_a_killed_run_resumes_to_the_same_result(data_root, tmp_path):
    """SIGKILL part-way through the second epoch, then resume=true: as if never stopped."""
    common = [*SMALL, f"data.root={data_root}", "trainer.epochs=3", "data.dataset.train_size=6000"]
    whole = run_cli(*common, f"hydra.run.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", *common, f"hydra.run.dir={killed_dir}"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics = killed_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # 86 batches an epoch: wait until well into the second
        if metrics.exists() and any(r["step"] >= 110 for r in read_metrics(metrics)):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed_dir / "summary.json").exists()  # it really died mid-run
    assert (killed_dir / "checkpoints/last.pt").exists()

    resumed = run_cli(*common, f"hydra.run.dir={killed_dir}", "resume=true")
    assert resumed.returncode == 0, resumed.stderr
    finished = json.loads((killed_dir / "summary.json").read_text())
    expected = json.loads((tmp_path / "whole/summary.json").read_text())
    assert finished["metrics"] == expected["metrics"]
