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

from runner.platform.errors import ConfigError
from runner.records.metrics import read_metrics
from runner.run.processes import ProcessFailed, join_torchrun_group
from runner.train import run
from tests.conftest import REPO, SMALL, processes_of_this_session, read_summary, without_timings
from tests.wandb_records import read_finished_run

TWO = ["device.processes=2"]
LOGREG = ["model=logreg", "optim=sgd", "trainer.max_steps=100", "trainer.log_every=10"]
RUN_FILES = {"checkpoints", "config_tree.txt", "figures", "metrics.jsonl", "summary.json"}


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["experiment"]


def runner_processes() -> list[str]:
    """Worker processes of runs of several processes that this session started and that are
    still alive: what the launcher starts, leaving out this test process's own fork server
    and resource tracker, kept for the next run."""
    own = own_children()
    return [
        process for process in processes_of_this_session("multiprocessing")
        if int(process.split()[0]) not in own
    ]  # fmt: skip


def own_children() -> set[int]:
    """This process's own children."""
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    return {int(pid) for task in tasks for pid in (task / "children").read_text().split()}


@pytest.mark.slow
def test_two_processes_end_with_the_weights_of_one_and_rank_0_alone_writes(make_config, tmp_path):
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
    assert read_summary(tmp_path / "two")["status"] == "completed"
    assert {p.name for p in (tmp_path / "two").iterdir()} == RUN_FILES | {"wandb"}
    assert len(list((tmp_path / "two").glob("wandb/offline-run-*"))) == 1  # one W&B run
    assert read_finished_run(tmp_path / "two").exit_code == 0
    assert not runner_processes()


@pytest.mark.slow
def test_a_checkpoint_of_two_processes_continues_in_one(make_config, tmp_path):
    """The weights and optimizer state are the model's own: no process count is built in."""
    half = [*LOGREG[:2], "trainer.max_steps=50", "trainer.checkpoint_every=1"]
    run(make_config(*half, *TWO), tmp_path / "switched")
    run(make_config(*LOGREG, "resume=true"), tmp_path / "switched")
    run(make_config(*LOGREG), tmp_path / "one")
    for name, tensor in weights(tmp_path / "one").items():
        torch.testing.assert_close(weights(tmp_path / "switched")[name], tensor, rtol=0, atol=1e-5)


def test_a_rank_that_fails_fails_the_run_with_its_error_and_leaves_no_process(
    make_config, tmp_path
):
    crash = ["model._target_=tests.crashing.CrashingSTN", "+model.crash_at_step=5"]
    config = make_config(*crash, "+model.crash_on_rank=1", "trainer.max_steps=20", *TWO)
    with pytest.raises(ProcessFailed, match="rank 1 of 2 failed: RuntimeError: crashed at step 5"):
        run(config, tmp_path)
    ended = read_summary(tmp_path)
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
    from runner.platform.device import check_processes

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="device.processes=2 needs a GPU per process"):
        check_processes(2, 64, torch.device("cuda"))


MLP_RUN = [*TWO, "model=mlp", "model.hidden_sizes=[64]", "trainer.epochs=6"]  # with dropout


@pytest.mark.slow
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
    if (killed / "summary.json").exists():  # a rank that saw its peer die may record that
        assert read_summary(killed)["status"] != "completed"

    run(make_config(*MLP_RUN, "resume=true"), killed)
    run(make_config(*MLP_RUN), tmp_path / "whole")
    assert read_summary(killed)["metrics"] == read_summary(tmp_path / "whole")["metrics"]
    assert without_timings(read_metrics(killed / "metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )


@pytest.mark.slow
def test_sigterm_to_the_launching_process_interrupts_every_rank(tmp_path, data_root):
    run_dir = tmp_path / "run"
    command = [*SMALL, *MLP_RUN, "trainer.epochs=200", f"data.root={data_root}"]
    started = subprocess.Popen(
        [sys.executable, "-m", "runner", *command, f"hydra.run.dir={run_dir}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    while not (run_dir / "checkpoints/last.pt").exists():
        assert started.poll() is None, started.communicate()
        time.sleep(0.01)
    started.send_signal(signal.SIGTERM)
    _, stderr = started.communicate(timeout=60)
    assert started.returncode == 130
    assert "interrupted; continue with:" in stderr and "resume=true" in stderr
    assert read_summary(run_dir)["status"] == "interrupted"
    assert not runner_processes()


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


def sweep_of_two_process_jobs(cli, tmp_path: Path, *overrides: str):
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", f"hydra.sweep.dir={sweep_dir}", *TWO, *overrides)
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit())
    return result, sweep_dir, jobs


@pytest.mark.slow
def test_a_sweep_runs_each_job_as_its_own_process_group_and_a_failed_rank_fails_its_job(
    cli, tmp_path
):
    result, sweep_dir, jobs = sweep_of_two_process_jobs(
        cli, tmp_path, "model._target_=tests.crashing.CrashingSTN", "+model.crash_at_step=1000,5",
        "+model.crash_on_rank=1", "trainer.max_steps=10", "logger=wandb", "logger.mode=offline",
    )  # fmt: skip
    assert result.returncode == 1
    assert "job 1 failed: ProcessFailed: rank 1 of 2 failed: RuntimeError: crashed" in result.stderr
    assert [read_summary(job)["status"] for job in jobs] == ["completed", "failed"]
    assert "rank 1 of 2 failed" in read_summary(jobs[1])["error"]
    for job in jobs:  # one directory, one W&B run each
        assert len(list(job.glob("wandb/offline-run-*"))) == 1
    assert not runner_processes()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_sweeps_of_two_process_jobs_run_under_the_parallel_launchers(cli, tmp_path, launcher):
    result, sweep_dir, jobs = sweep_of_two_process_jobs(
        cli, tmp_path, f"hydra/launcher={launcher}", "model=logreg", "seed=0,1",
        "trainer.max_steps=10",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [read_summary(job)["status"] for job in jobs] == ["completed", "completed"]
    assert not runner_processes()


def evaluate_on_this_rank(overrides: list[str]) -> dict[str, float]:
    """A freshly built experiment's validation and test metrics, evaluated by this process
    (and its share of the splits, in a process group)."""
    from runner.platform.distributed import (
        current_processes,
        join_process_group,
        leave_process_group,
    )
    from runner.run.build import build, build_loaders_of
    from runner.training.evaluation import evaluate
    from tests.conftest import compose_config

    in_group = "RANK" in os.environ
    processes = join_process_group("cpu") if in_group else current_processes()
    cfg = compose_config(*SMALL, *overrides)
    torch.manual_seed(0)
    experiment = build(cfg.model, "model")
    loaders = build_loaders_of(cfg.data, 0, torch.device("cpu"), processes)
    metrics = evaluate(experiment, loaders.val, "val", 0) | evaluate(
        experiment, loaders.test, "test", 0
    )
    if in_group:
        leave_process_group()
    return metrics


@pytest.mark.parametrize(
    "model",
    [
        # 300 validation images choose the Parzen width: rank 0's 250 and 50 of rank 1's
        ["model=gan", "model.parzen_samples=500", "model.parzen_val_images=300"],
        ["model=vae", "model.importance_samples=5"],  # stochastic: seeded batch by batch
    ],
    ids=["gan", "vae"],
)
def test_an_evaluation_split_over_two_processes_measures_what_one_process_does(model, data_root):
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from runner.run.processes import START_METHOD, checked_port, launcher_settings

    overrides = [*model, f"data.root={data_root}"]
    one = evaluate_on_this_rank(overrides)
    launch = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=2, rdzv_backend="c10d", max_restarts=0,
        rdzv_endpoint=f"127.0.0.1:{checked_port(None)}", start_method=START_METHOD,
    )  # fmt: skip
    with launcher_settings():
        by_rank = elastic_launch(launch, evaluate_on_this_rank)(overrides)
    assert by_rank[0] == by_rank[1]
    assert by_rank[0] == pytest.approx(one, rel=1e-9, abs=1e-12)
