"""Time a 4-job sweep on a local single-node SLURM cluster against the same sweep run by
Hydra's basic launcher, and how long SLURM takes to start each job.

Usage: python bench/bench_slurm.py [--repeats N] [--out DIR]   (root; SLURM: make slurm-install)

The script starts its own cluster (runner.slurm.cluster, on ports 26817-26820, so that one
started by ``make slurm-up`` is left alone) and stops it at the end. Each sweep is the real
command line in a fresh process, timed from start to exit: Adam §6.1's logistic regression
with ``optim=adam,sgd seed=0,1``, one epoch, ``logger=none``. On SLURM each job asks for one
CPU, so two run at once on a 2-core machine; the basic launcher runs them one after another
with torch's threads on both cores. From SLURM's accounting (``sacct``, whole seconds) it
reports each job's wait from submission to start, and its overhead: the job's elapsed time
less the run's own wall time (``summary.json``), that is starting Python, importing torch and
the runner, submitit's unpickling and result file, and SLURM's job start and end.

Then a sweep of ``--array-jobs`` tiny jobs (``model=logreg trainer.max_steps=2``, default
200), submitted as SLURM job arrays of which at most as many run at once as the machine has
cores (submitit's ``array_parallelism``): its seconds, per job, and each job's overhead as above.

The numbers go to ``docs/results/bench_slurm.json`` (``--out``): ``basic_s``, ``slurm_s``,
``ratio`` (slurm / basic), and ``wait_s`` and ``overhead_s`` (``median``, ``max``) per job;
``array.jobs``, ``array.seconds``, ``array.per_job_s``, ``array.parallelism`` and
``array.overhead_s`` for the large sweep.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import record  # noqa: E402  (this script's folder is on sys.path)
from bench_sweep import run_sweep  # noqa: E402

from runner.slurm.cluster import ClusterError, LocalCluster  # noqa: E402

PORT = 26817
SWEEP = [
    "model=logreg",
    "optim=adam,sgd",
    "seed=0,1",
    "trainer.epochs=1",
    "logger=none",
    "device=cpu",
]
ON_SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
]


def accounting(job_id: str, environment: dict[str, str]) -> dict[str, datetime]:
    """The job's submit, start and end times from SLURM's accounting, read again until
    slurmdbd has recorded all three (it writes them a moment after the job's result)."""
    deadline = time.monotonic() + 30
    while True:
        fields = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "Submit,Start,End", "-j", job_id],
            capture_output=True, text=True, env=environment, check=True,
        ).stdout.split()[-1].split("|")  # fmt: skip
        if "Unknown" not in fields or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # polling the accounting database, not a guess at a delay
    return dict(zip(("submit", "start", "end"), map(datetime.fromisoformat, fields), strict=True))


def job_timings(sweep_dir: Path, environment: dict[str, str]) -> list[tuple[float, float]]:
    """(seconds from submission to start, seconds of overhead) of each job of the sweep."""
    ids = json.loads((sweep_dir / ".submitit/jobs.json").read_text())
    timings = []
    for number, job_id in ids.items():
        times = accounting(job_id, environment)
        run_wall = json.loads((sweep_dir / number / "summary.json").read_text())["wall_time_s"]
        elapsed = (times["end"] - times["start"]).total_seconds()
        timings.append(((times["start"] - times["submit"]).total_seconds(), elapsed - run_wall))
    return timings


TINY = ["model=logreg", "trainer.max_steps=2", "logger=none", "device=cpu"]


def array_sweep(jobs: int, work: Path, environment: dict[str, str]) -> dict:
    """A sweep of ``jobs`` tiny jobs as job arrays, as many running at once as there are
    cores: its seconds, per job, and each job's overhead beyond its run."""
    parallelism = os.cpu_count() or 1
    sweep_dir = work / f"array-{jobs}"
    seconds = run_sweep([*TINY, f"seed=range(0,{jobs})", *ON_SLURM,
                         f"hydra.launcher.array_parallelism={parallelism}"], sweep_dir)  # fmt: skip
    overheads = [overhead for _, overhead in job_timings(sweep_dir, environment)]
    return {
        "jobs": jobs, "parallelism": parallelism, "seconds": seconds, "per_job_s": seconds / jobs,
        "overhead_s": {"median": statistics.median(overheads), "max": max(overheads)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--array-jobs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    cluster = LocalCluster(work / "cluster", port=PORT)
    try:
        cluster.up()
    except ClusterError as error:
        raise SystemExit(f"bench_slurm: {error}") from None
    os.environ["SLURM_CONF"] = str(cluster.conf)  # the sweeps' sbatch and squeue find it
    environment = cluster.environment
    try:
        run_sweep([*SWEEP, "optim=adam", "seed=0"], work / "warm-up")  # the dataset, once
        basic, slurm, waits, overheads = four_job_sweeps(args.repeats, work, environment)
        array = array_sweep(args.array_jobs, work, environment) if args.array_jobs else None
    finally:
        cluster.down()
    print_results(basic, slurm, waits, overheads, args.repeats)
    if array:
        print_array(array)
    write_results(args, basic, slurm, waits, overheads, array)


def four_job_sweeps(
    repeats: int, work: Path, environment: dict[str, str]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """The 4-job sweep under the basic launcher and on SLURM, alternating: their seconds,
    and each SLURM job's wait and overhead."""
    basic, slurm, waits, overheads = [], [], [], []
    for repeat in range(repeats):
        basic.append(run_sweep(SWEEP, work / f"basic-{repeat}"))
        slurm.append(run_sweep([*SWEEP, *ON_SLURM], work / f"slurm-{repeat}"))
        for wait, overhead in job_timings(work / f"slurm-{repeat}", environment):
            waits.append(wait)
            overheads.append(overhead)
    return basic, slurm, waits, overheads


def print_array(array: dict) -> None:
    print(f"{array['jobs']} tiny jobs as job arrays, {array['parallelism']} at a time: "
          f"{array['seconds']:.0f} s, {array['per_job_s']:.2f} s a job; overhead beyond the "
          f"run median {array['overhead_s']['median']:.1f} s")  # fmt: skip


def write_results(
    args: argparse.Namespace,
    basic: list[float],
    slurm: list[float],
    waits: list[float],
    overheads: list[float],
    array: dict | None,
) -> None:
    """``bench_slurm.json``: the medians of the sweeps' times, and the jobs' waits and overheads."""
    basic_s, slurm_s = statistics.median(basic), statistics.median(slurm)
    record.write(
        "bench_slurm",
        {"repeats": args.repeats, "sweep": SWEEP, "basic_s": basic_s, "slurm_s": slurm_s,
         "ratio": slurm_s / basic_s, "jobs": len(waits),
         "wait_s": {"median": statistics.median(waits), "max": max(waits)},
         "overhead_s": {"median": statistics.median(overheads), "max": max(overheads)},
         "array": array}, out=args.out,
        measures="Seconds from start to exit of a 4-job sweep under the basic launcher and on "
        "a local SLURM cluster, and each SLURM job's wait and overhead from sacct; a sweep of "
        "many tiny jobs as SLURM job arrays.",
    )  # fmt: skip


def print_results(
    basic: list[float], slurm: list[float], waits: list[float], overheads: list[float], repeats: int
) -> None:
    basic_s, slurm_s = statistics.median(basic), statistics.median(slurm)
    print(f"4-job sweep ({' '.join(SWEEP)}), median of {repeats}, {os.cpu_count()} cores")
    print(f"{'launcher':<28}{'seconds':>10}")
    print(f"{'basic (one after another)':<28}{basic_s:>10.1f}")
    print(f"{'slurm (local cluster)':<28}{slurm_s:>10.1f}")
    print(f"slurm / basic: {slurm_s / basic_s:.2f}x")
    print(
        f"per SLURM job ({len(waits)} jobs): submission to start median {statistics.median(waits):.0f} s "
        f"(max {max(waits):.0f} s); overhead beyond the run median {statistics.median(overheads):.1f} s "
        f"(max {max(overheads):.1f} s); sacct's times are whole seconds"
    )


if __name__ == "__main__":
    main()
