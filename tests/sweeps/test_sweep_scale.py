"""Sweeps of many jobs: launched a batch at a time, a line per job, a report that fits 100
columns, the jobs' own figures drawn after the sweep."""

import subprocess
import sys
from pathlib import Path

import pytest

from runner.sweeps.batching import SUBMITTED_AT_ONCE, batch_size
from runner.sweeps.job_figures import DRAWN_AT_MOST, draw_job_figures
from runner.sweeps.outcomes import JobOutcome
from tests.conftest import REPO, SMALL, cli_environment, wait_until


@pytest.mark.slow
def test_a_sweep_of_many_jobs_says_one_line_each_and_reports_in_100_columns(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "runner", "-m", *SMALL, "device=cpu", "trainer.max_steps=1",
         f"data.root={data_root}", "seed=range(0,20)", f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env=cli_environment(COLUMNS="200"),  # a wide terminal: the report keeps to 100
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"sweep: 20 jobs, 1 at a time, into {sweep_dir}"
    ended = [line for line in lines if line.startswith("job ")]
    assert len(ended) == 20 and all(" completed: " in line and "· " in line for line in ended)
    assert not any("Launching" in line or "#0 :" in line for line in lines)  # Hydra's, silenced
    assert all(len(line) <= 100 for line in ended)
    report = result.stdout.split("sweep: 20 jobs (")[1].split("sweep summary:")[0]
    assert max(len(line) for line in report.splitlines()) <= 100
    assert "20 completed" in lines[len(ended) + 1]
    said = " ".join(report.split())  # the caption may wrap
    assert "the 10 best and the 5 worst; the other 5 are in sweep_summary.csv" in said


def test_a_batch_is_what_the_launcher_runs_at_once():
    assert (
        batch_size({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}) == 1
    )
    joblib = {"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 3}
    assert batch_size(joblib) == 12  # four rounds of its three workers
    slurm = {"_target_": "hydra_plugins.runner_plugins.slurm_launcher.SlurmLauncher"}
    assert batch_size(slurm) == SUBMITTED_AT_ONCE


def test_the_figures_of_a_very_large_sweep_are_left_to_runner_plot(tmp_path):
    jobs = []
    for number in range(DRAWN_AT_MOST + 1):
        run_dir = tmp_path / str(number)
        run_dir.mkdir()
        (run_dir / "metrics.jsonl").write_text('{"step": 1, "epoch": 0, "train/loss": 1.0}\n')
        jobs.append(JobOutcome(number, [f"seed={number}"], "completed", run_dir))
    said = draw_job_figures(jobs, tmp_path)
    assert said.startswith(f"jobs' curves: not drawn for {DRAWN_AT_MOST + 1} jobs")
    assert f"python -m runner.plot {tmp_path}/<job>" in said
    assert not list(tmp_path.glob("*/figures/curves.png"))
    drawn = draw_job_figures(jobs[:2], tmp_path)
    assert drawn.endswith("(2 drawn)") and len(list(tmp_path.glob("*/figures/curves.png"))) == 2
    assert draw_job_figures(jobs[:2], tmp_path) is None  # nothing left to draw
    assert isinstance(jobs[0].run_dir, Path)


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's prctl")
def test_a_figure_worker_goes_when_its_sweep_is_killed():
    """A sweep killed while its workers draw (SIGKILL: no clean-up runs) leaves no worker
    behind holding its output open: the command's output ends."""
    script = (
        "import multiprocessing, os\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from runner.sweeps.job_figures import die_with_parent\n"
        "pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('fork'),\n"
        "                           initializer=die_with_parent, initargs=(os.getpid(),))\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, env=cli_environment(), timeout=120)  # fmt: skip
    assert killed.returncode == -9  # and the output ended: no worker held it open
    worker = int(killed.stdout.split()[0])
    wait_until(lambda: not worker_alive(worker), timeout_s=30, what="the worker to go")


def worker_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
