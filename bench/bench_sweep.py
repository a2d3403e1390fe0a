"""Time the same 4-job sweep under Hydra's basic launcher and under the joblib launcher.

Usage: python bench/bench_sweep.py [--workloads gan_theory,logreg,stn] [--repeats N] [--wandb]
                                   [--out DIR]

Each sweep is the real command line (``python -m runner -m ...``) in a fresh process, timed
from start to exit, so the comparison includes everything a user waits for: starting the
worker processes, importing torch in each, writing checkpoints and the sweep report. The
dataset is generated once before timing. The basic launcher runs the jobs one after another
with torch's threads on every core; joblib runs one job per core with one thread each
(``device.threads`` follows ``hydra.launcher.n_jobs``). The table gives the median over
repeats and the ratio basic / joblib (above 1: joblib is faster).

The numbers go to ``docs/results/bench_sweep.json`` (``--out``): ``workloads.<name>`` holds
each launcher's median seconds (``basic``, ``joblib``), their ``ratio``, and under ``jobs``
per launcher what the jobs themselves recorded: the median wall time of a job (``job_s``),
and the wait for the first step (``perf/startup_s``) of the jobs that started a process
(``startup_first_s``: job 0 for basic, one per core for joblib) and of the others
(``startup_later_s``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import record  # this script's folder is on sys.path

REPO = Path(__file__).resolve().parents[1]

# Four jobs each, on the CPU.
WORKLOADS = {
    # GAN paper §4's check: tiny 1-D networks, thousands of small steps.
    "gan_theory": ["experiment=gan_theory"],
    # Adam paper §6.1's comparison, four optimizers on logistic regression.
    "logreg": [
        "model=logreg",
        "optim=adam,sgd_nesterov,adagrad,rmsprop",
        "data.batch_size=128",
        "trainer.epochs=10",
    ],  # fmt: skip
    # The main job's STN: convolutions that torch already spreads over every core.
    "stn": [
        "model=stn",
        "optim=adam,sgd",
        "seed=0,1",
        "trainer.epochs=1",
        "data.dataset.train_size=10000",
        "data.dataset.test_size=1000",
        "data.val_size=1000",
    ],  # fmt: skip
}
COMMON = ["device=cpu"]
LOGGERS = {False: ["logger=none"], True: ["logger=wandb", "logger.mode=offline"]}
LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib"]}


def run_sweep(overrides: list[str], sweep_dir: Path) -> float:
    """Seconds from starting ``python -m runner -m OVERRIDES`` to its successful exit."""
    command = [sys.executable, "-m", "runner", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"sweep failed ({' '.join(overrides)}):\n{result.stderr[-2000:]}")
    return elapsed


def warm_up(overrides: list[str], data_root: Path, scratch: Path) -> None:
    """Generate the workload's dataset once, so no timed sweep pays for it."""
    single = [o.split(",")[0] for o in overrides]  # the first job of the sweep, alone
    command = [sys.executable, "-m", "runner", *single, f"data.root={data_root}",
               "trainer.max_steps=1", f"hydra.run.dir={scratch}"]  # fmt: skip
    subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   capture_output=True, check=True)  # fmt: skip


def job_times(sweep_dirs: list[Path], workers: int) -> dict[str, float | None]:
    """What the sweeps' jobs recorded: median wall time, and median wait for the first step
    of the first ``workers`` jobs (each in a fresh process) and of the later ones."""
    walls, first, later = [], [], []
    for sweep_dir in sweep_dirs:
        for job_dir in sorted(d for d in sweep_dir.iterdir() if d.name.isdigit()):
            walls.append(json.loads((job_dir / "summary.json").read_text())["wall_time_s"])
            lines = (job_dir / "metrics.jsonl").read_text().splitlines()
            startup = next((r["perf/startup_s"] for r in map(json.loads, lines)
                            if "perf/startup_s" in r), None)  # fmt: skip
            if startup is not None:
                (first if int(job_dir.name) < workers else later).append(startup)
    median = statistics.median
    return {"job_s": median(walls), "startup_first_s": median(first) if first else None,
            "startup_later_s": median(later) if later else None}  # fmt: skip


def time_workload(overrides: list[str], name: str, repeats: int, scratch: Path) -> dict:
    """The workload's sweeps under each launcher, alternated, and what their jobs recorded."""
    times: dict[str, list[float]] = {launcher: [] for launcher in LAUNCHERS}
    for repeat in range(repeats):
        for launcher, choice in LAUNCHERS.items():  # alternated, so drift hits both
            sweep_dir = scratch / f"{name}-{launcher}-{repeat}"
            times[launcher].append(run_sweep([*choice, *overrides], sweep_dir))
    basic, joblib = (statistics.median(times[launcher]) for launcher in LAUNCHERS)
    workers = {"basic": 1, "joblib": os.cpu_count() or 1}
    jobs = {
        launcher: job_times([scratch / f"{name}-{launcher}-{r}" for r in range(repeats)], count)
        for launcher, count in workers.items()
    }
    return {"basic": basic, "joblib": joblib, "ratio": basic / joblib, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--wandb", action="store_true", help="log each job to W&B (offline)")
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    arguments = parser.parse_args()

    logger = LOGGERS[arguments.wandb]
    print(f"{os.cpu_count()} cores; {' '.join(logger)}; median of {arguments.repeats} run(s)\n")
    print("| 4-job sweep | basic launcher | joblib launcher | basic / joblib |")
    print("|---|---|---|---|")
    workloads = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for name in arguments.workloads.split(","):
            overrides = [*WORKLOADS[name], *COMMON, *logger, f"data.root={scratch / 'data'}"]
            warm_up(overrides, scratch / "data", scratch / f"{name}-warm-up")
            workloads[name] = found = time_workload(overrides, name, arguments.repeats, scratch)
            basic, joblib = found["basic"], found["joblib"]
            print(
                f"| {name} | {basic:.1f} s | {joblib:.1f} s | {basic / joblib:.2f}× |", flush=True
            )
    record.write(
        "bench_sweep",
        {"repeats": arguments.repeats, "logger": logger, "cores": os.cpu_count(),
         "workloads": workloads}, out=arguments.out,
        measures="Seconds from start to exit of the same 4-job sweeps under Hydra's basic "
        "launcher and under the joblib launcher, alternating, in fresh processes.",
    )  # fmt: skip


if __name__ == "__main__":
    main()
