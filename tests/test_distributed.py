"""Runs of several processes (torch.distributed, gloo on the CPU): the same run as one process,
rank 0 alone writing, exact resume after a SIGKILL, failures, sweeps, and bad settings."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from runner.errors import ConfigError
from runner.files import read_json
from runner.launch import ProcessFailed, join_torchrun_group
from runner.metrics import read_metrics
from runner.train import run
from tests.conftest import REPO, SMALL
from tests.wandb_records import read_finished_run

TWO = ["device.processes=2"]
LOGREG = ["model=logreg", "optim=sgd", "trainer.max_steps=100", "trainer.log_every=10"]
RUN_FILES = {"checkpoints", "config_tree.txt", "metrics.jsonl", "summary.json"}


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["experiment"]


def summary(run_dir: Path) -> dict:
    return read_json(run_dir / "summary.json")


def runner_processes() -> list[str]:
    """Worker processes of runs of several processes still alive on this machine: what the
    launcher starts, leaving out this test process's own fork server, kept for the next run."""
    found = subprocess.run(["ps", "-eo", "ppid,args"], capture_output=True, text=True).stdout
    return [
        line
        for line in found.splitlines()
        if "multiprocessing" in line and int(line.split()[0]) != os.getpid()
    ]


def test_two_processes_end_with_the_weights_of_one_and_rank_0_alone_writes(
    make_config, tmp_path
):
    """Averaging the gradients of two halves of each batch is the gradient of the batch."""
    one = run(make_config(*LOGREG), tmp_path / "one")
    two = run(make_config(*LOGREG, *TWO, "logger=wandb", "logger.mode=offline"), tmp_path / "two")

    for name, tensor in weights(tmp_path / "one").items():
        torch.testing.assert_close(weights(tmp_path / "two")[name], tensor, rtol=0, atol=1e-5)
    assert two == pytest.approx(one, abs=1e-6)  # the evaluation reduced over the ranks
    logged = [without_timings(read_metrics(tmp_path / d / "metrics.jsonl")) for d in ("one", "two")]
    assert [r["step"] for r in logged[1]] == [r["step"] for r in logged[0]]
    for record_one, record_two in zip(*logged, strict=True):
        assert record_two == pytest.approx(record_one, abs=1e-5)
    assert summary(tmp_path / "two")["status"] == "completed"
    assert {p.name for p in (tmp_path / "two").iterdir()} == RUN_FILES | {"wandb"}
    assert len(list((tmp_path / "two").glob("wandb/offline-run-*"))) == 1  # one W&B run
    assert read_finished_run(tmp_path / "two").exit_code == 0
    assert not runner_processes()


def test_a_rank_that_fails_fails_the_run_with_its_error_and_leaves_no_process(
    make_config, tmp_path
):
    crash = ["model._target_=tests.crashing.CrashingSTN", "+model.crash_at_step=5"]
    config = make_config(*crash, "+model.crash_on_rank=1", "trainer.max_steps=20", *TWO)
    with pytest.raises(ProcessFailed, match="rank 1 of 2 failed: RuntimeError: crashed at step 5"):
        run(config, tmp_path)
    ended = summary(tmp_path)
    assert ended["status"] == "failed" and "crashed at step 5" in ended["error"]
    assert not runner_processes()


def test_a_bad_setting_in_the_processes_is_one_config_error(make_config, tmp_path):
    with pytest.raises(ConfigError, match="model.hidden_sizes"):
        run(make_config("model=mlp", "model.hidden_sizes=[0]", *TWO), tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["device.processes=0"], "device.processes must be an integer >= 1; got 0"),
        (["device.processes=3"], "data.batch_size=64 does not split into device.processes=3"),
        (["device.port=70000"], "device.port must be a port number up to 65535"),
    ],
)
def test_unusable_process_settings_are_refused(make_config, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        run(make_config(*overrides), tmp_path)


def test_a_port_in_use_is_refused(make_config, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as refused:
            run(make_config(*TWO, f"device.port={port}"), tmp_path / "run")
    assert str(refused.value) == (
        f"device.port={port} is in use on this machine; choose another port, "
        "or device.port=null for a free one"
    )
    assert not (tmp_path / "run").exists()


def test_processes_under_torchrun_are_refused(monkeypatch, tmp_path):
    torchrun = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    for name, value in {**torchrun, "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    config = {"device": {"processes": 2, "type": "cpu"}, "data": {"batch_size": 64}}
    with pytest.raises(ConfigError, match="device.processes=2 under torchrun"):
        join_torchrun_group(config, tmp_path)


def test_more_processes_than_gpus_are_refused_in_one_line(monkeypatch):
    from runner.device import check_processes

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="device.processes=2 needs a GPU per process"):
        check_processes(2, 64, torch.device("cuda"))


MLP_RUN = [*TWO, "model=mlp", "model.hidden_sizes=[64]", "trainer.epochs=6"]  # with dropout


def test_a_two_process_run_killed_with_sigkill_resumes_exactly(make_config, tmp_path, data_root):
    """SIGKILL to the launching process takes its ranks down with it; ``resume=true`` then
    continues from ``last.pt`` to the metrics of a run that was never stopped."""
    killed = tmp_path / "killed"
    started = subprocess.Popen(
        [sys.executable, "-m", "runner", *SMALL, *MLP_RUN, f"data.root={data_root}",
         f"hydra.run.dir={killed}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not (killed / "checkpoints/last.pt").exists():  # the first epoch's checkpoint
        assert started.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    started.send_signal(signal.SIGKILL)
    started.wait()
    deadline = time.monotonic() + 30
    while runner_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not runner_processes()
    assert summary(killed).get("status") != "completed"

    run(make_config(*MLP_RUN, "resume=true"), killed)
    run(make_config(*MLP_RUN), tmp_path / "whole")
    assert summary(killed)["metrics"] == summary(tmp_path / "whole")["metrics"]
    assert without_timings(read_metrics(killed / "metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )


@pytest.mark.slow
def test_torchrun_runs_the_same_run_in_one_directory(make_config, tmp_path, data_root):
    run(make_config(*LOGREG), tmp_path / "one")
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "runner", *SMALL, *LOGREG,
         f"data.root={data_root}", f"hydra.run.dir={tmp_path / 'two'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for name, tensor in weights(tmp_path / "one").items():
        torch.testing.assert_close(weights(tmp_path / "two")[name], tensor, rtol=0, atol=1e-5)
    assert {p.name for p in tmp_path.iterdir()} == {"one", "two"}  # rank 1 wrote nothing
    assert {p.name for p in (tmp_path / "two").iterdir()} >= RUN_FILES
    shutil.rmtree(tmp_path / "two")
