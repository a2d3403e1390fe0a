"""Sweeps on a real SLURM cluster: a local single-node one (runner.slurm.cluster), started for
these tests and stopped after them. Jobs run through submitit, as on any cluster; preemption
and time limits are SLURM's own signals."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from runner.records.metrics import read_metrics
from runner.slurm.cluster import (
    PROGRAMS,
    URGENT_PARTITION,
    ClusterError,
    LocalCluster,
    descendants,
)
from runner.train import run
from tests.conftest import REPO, wait_until, without_timings
from tests.sweeps.test_sweeps import DIVERGES
from tests.wandb_records import read_offline_run

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]  # one cluster at a time
TEST_PORT = 16817  # not SLURM's default ports: a cluster started with make slurm-up may be running
ON_THE_CLUSTER = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "device=cpu",
]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A local SLURM cluster with accounting, for these tests; no daemon outlives it. Started
    once a session: the tests run on one xdist worker, yet in any order among other modules'."""
    import shutil

    if os.geteuid() != 0:
        pytest.skip("a local SLURM cluster needs root")
    if not all(shutil.which(program) for program in PROGRAMS):
        pytest.skip("SLURM is not installed (make slurm-install)")
    cluster = LocalCluster(tmp_path_factory.mktemp("slurm"), port=free_ports_from(TEST_PORT))
    try:
        daemons = cluster.up()
    except ClusterError as error:
        pytest.skip(f"cannot start a local SLURM cluster: {error}")
    family = [*daemons, *(child for daemon in daemons for child in descendants(daemon))]
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)  # sbatch, squeue and submitit read it
    yield cluster
    if saved is None:
        os.environ.pop("SLURM_CONF")
    else:
        os.environ["SLURM_CONF"] = saved
    cluster.down()  # returns once every daemon, and every process it started, has ended
    assert not any(process.alive() for process in family)
    assert not cluster.running()


def free_ports_from(first: int) -> int:
    """The first of four consecutive free ports at or after ``first`` (in steps of 10): a
    cluster that another session, or another process of this one, still holds is left be."""
    from runner.slurm.cluster import Ports, port_in_use

    for base in range(first, first + 400, 10):
        if not any(port_in_use(port) for port in Ports.from_base(base).named().values()):
            return base
    pytest.skip(f"no four free ports from {first} to {first + 400}")


def slurm_sweep(cli, sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return cli(
        sweep_dir.parent / "unused",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        *ON_THE_CLUSTER,
        *overrides,
    )


def slurm_ids(sweep_dir: Path) -> dict[int, str]:
    recorded = json.loads((sweep_dir / ".submitit/jobs.json").read_text())
    return {int(number): job_id for number, job_id in recorded.items()}


def sacct_states(job_id: str, ending: str = "COMPLETED", timeout_s: float = 20) -> list[str]:
    """Every state the job passed through, oldest first (``sacct -D`` lists each requeue),
    once accounting has recorded its ``ending`` (it lags the job's result by a second or so)."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = subprocess.run(
            ["sacct", "-D", "-X", "-n", "-P", "-o", "State", "-j", job_id],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if (states and states[-1] == ending) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def wait_for_records(metrics: Path, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{metrics} did not reach {count} records in {timeout_s} s")


def test_up_refuses_in_one_line_when_a_port_is_taken(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", TEST_PORT + 100))
        taken.listen()
        result = subprocess.run(
            ["python", "-m", "runner.slurm.cluster", "up", "--dir", str(tmp_path), "--port", str(TEST_PORT + 100)],
            capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {TEST_PORT + 100} (slurmctld) is in use: another SLURM or database is "
        "running here; stop it, or choose other ports with --port"
    ]
    assert not (tmp_path / "slurm.conf").exists()


def test_sbatch_refusing_the_jobs_is_one_line_naming_the_setting(cluster, cli, tmp_path):
    """The launcher asks for a GPU per node by default; this cluster has none."""
    sweep_dir = tmp_path / "sweep"
    overrides = [o for o in ON_THE_CLUSTER if not o.startswith("hydra.launcher.gpus_per_node")]
    result = cli(tmp_path / "unused", "-m", *overrides, "seed=0,1", f"hydra.sweep.dir={sweep_dir}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert "Invalid generic resource" in lines[0] and "hydra.launcher.gpus_per_node" in lines[0]
    assert not [p for p in (sweep_dir / ".submitit").glob("*") if p.is_file()]


@pytest.mark.slow
def test_a_sweep_runs_each_job_as_a_slurm_job_and_a_failing_job_is_recorded(cluster, cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = slurm_sweep(
        cli, sweep_dir, "model=mlp", "optim=sgd", f"optim.lr=0.01,{DIVERGES}", "trainer.epochs=1",
        "logger=wandb", "logger.mode=offline",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # one job did not complete
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    statuses = {
        next(o for o in job["overrides"] if o.startswith("optim.lr=")): job["status"]
        for job in summary["jobs"]
    }
    assert statuses == {"optim.lr=0.01": "completed", f"optim.lr={float(DIVERGES)}": "failed"}
    failed = next(job for job in summary["jobs"] if job["status"] == "failed")
    assert "training diverged" in failed["error"]
    assert (sweep_dir / "sweep_summary.csv").exists()
    ids = slurm_ids(sweep_dir)
    for number, job_id in ids.items():
        assert sacct_states(job_id) == ["COMPLETED"]  # the runner caught the failure itself
        assert (sweep_dir / f".submitit/{job_id}").is_dir(), number
    completed = next(job for job in summary["jobs"] if job["status"] == "completed")
    wandb_run = read_offline_run(Path(completed["run_dir"]))
    assert wandb_run.config["optim"]["lr"] == 0.01 and wandb_run.summary["objective"] > 0.15


@pytest.mark.slow
def test_a_job_signalled_before_its_time_limit_is_requeued_and_ends_as_if_uninterrupted(
    cluster, cli, make_config, tmp_path
):
    """SIGUSR2, which SLURM sends a submitit job signal_delay_s before its time limit: the job
    checkpoints at a step, submitit requeues it, and it resumes by itself. Submitted with
    wait=false and collected later by the same command with resume=true."""
    job = ["trainer.epochs=4", "seed=0", "device.threads=1"]  # beside conftest.SMALL's settings
    whole = run(make_config(*job), tmp_path / "whole")

    sweep_dir = tmp_path / "sweep"
    submitted = slurm_sweep(
        cli, sweep_dir, *job, "hydra.launcher.cpus_per_task=2", "hydra.launcher.wait=false"
    )
    assert submitted.returncode == 0, submitted.stderr
    assert "resume=true" in submitted.stdout and not (sweep_dir / "sweep_summary.json").exists()
    job_id = slurm_ids(sweep_dir)[0]
    wait_for_records(sweep_dir / "0/metrics.jsonl", 3)
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)

    collected = slurm_sweep(cli, sweep_dir, *job, "hydra.launcher.cpus_per_task=2", "resume=true")
    assert collected.returncode == 0, collected.stderr
    assert sacct_states(job_id) == ["REQUEUED", "COMPLETED"]
    log = next((sweep_dir / ".submitit" / job_id).glob("*_log.err")).read_text()
    assert "asking submitit to requeue this job" in log
    summary = json.loads((sweep_dir / "0/summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["objective"]["value"] == whole
    assert without_timings(read_metrics(sweep_dir / "0/metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )
    assert json.loads((sweep_dir / "sweep_summary.json").read_text())["counts"] == {"completed": 1}


@pytest.mark.slow
def test_a_job_preempted_by_slurm_checkpoints_on_sigterm_and_resumes_when_requeued(
    cluster, cli, make_config, tmp_path
):
    """Real preemption: a job in the urgent partition needs the node, SLURM sends the running
    job SIGTERM, gives it GraceTime, kills it and requeues it; it resumes from the checkpoint
    it wrote on SIGTERM and ends with the metrics of an uninterrupted run."""
    job = ["trainer.epochs=30", "seed=0", "device.threads=1"]  # the same sums as the whole run
    whole = run(make_config(*job), tmp_path / "whole")

    sweep_dir = tmp_path / "sweep"
    submitted = slurm_sweep(
        cli, sweep_dir, *job, "hydra.launcher.cpus_per_task=2", "hydra.launcher.wait=false"
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = slurm_ids(sweep_dir)[0]
    wait_for_records(sweep_dir / "0/metrics.jsonl", 3)
    subprocess.run(
        ["sbatch", f"--partition={URGENT_PARTITION}", "--cpus-per-task=2",
         f"--output={tmp_path}/urgent.out", "--wrap", "sleep 1"],
        check=True, capture_output=True,
    )  # fmt: skip
    collected = slurm_sweep(cli, sweep_dir, *job, "hydra.launcher.cpus_per_task=2", "resume=true")
    assert collected.returncode == 0, collected.stderr
    assert sacct_states(job_id) == ["PREEMPTED", "COMPLETED"]
    summary = json.loads((sweep_dir / "0/summary.json").read_text())
    assert summary["status"] == "completed" and summary["objective"]["value"] == whole
    assert without_timings(read_metrics(sweep_dir / "0/metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )


def job_state(job_id: str) -> str:
    shown = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return next(word for word in shown.split() if word.startswith("JobState=")).split("=")[1]


@pytest.mark.slow
def test_a_slurm_job_killed_at_random_moments_and_requeued_ends_as_if_uninterrupted(
    cluster, cli, make_config, tmp_path
):
    """SIGKILL to every process of the job (as a node that dies takes them), then SLURM
    requeues it, ten times at random moments of its run: each time it resumes from its last
    checkpoint, and it ends with the metrics of a run never stopped."""
    import random

    job = ["trainer.epochs=60", "seed=0", "device.threads=1"]
    whole = run(make_config(*job), tmp_path / "whole")
    chooser, kills, attempt = random.Random(11), 0, 0
    while kills < 10 and attempt < 3:  # a job may complete before its kills: then another
        sweep_dir = tmp_path / f"sweep{attempt}"
        submitted = slurm_sweep(cli, sweep_dir, *job, "hydra.launcher.wait=false")
        assert submitted.returncode == 0, submitted.stderr
        kills += kill_and_requeue(slurm_ids(sweep_dir)[0], chooser, most=10 - kills)
        collected = slurm_sweep(cli, sweep_dir, *job, "resume=true")
        assert collected.returncode == 0, collected.stderr
        summary = json.loads((sweep_dir / "0/summary.json").read_text())
        assert summary["status"] == "completed" and summary["objective"]["value"] == whole
        assert without_timings(read_metrics(sweep_dir / "0/metrics.jsonl")) == without_timings(
            read_metrics(tmp_path / "whole/metrics.jsonl")
        )
        assert not list((sweep_dir / "0").rglob(".*.tmp"))
        attempt += 1
    assert kills >= 10, f"{kills} kills over {attempt} jobs"


def kill_and_requeue(job_id: str, chooser, most: int) -> int:
    """SIGKILL every process of the running job at a random moment, then requeue it, up to
    ``most`` times or until it completes first; return how many times it was killed."""
    for kills in range(most):
        wait_until(lambda: job_state(job_id) in ("RUNNING", "COMPLETED"), timeout_s=120)
        time.sleep(chooser.uniform(0.5, 2.5))  # the random moment of the kill
        if job_state(job_id) != "RUNNING":
            return kills
        subprocess.run(["scancel", "--signal=KILL", "--full", job_id], check=True)
        wait_until(lambda: job_state(job_id) != "RUNNING", timeout_s=60)
        subprocess.run(["scontrol", "requeue", job_id], check=True)
    return most
