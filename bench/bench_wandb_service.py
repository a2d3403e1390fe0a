"""A joblib sweep logging to W&B offline, its jobs sharing one W&B service or each starting
its own.

Usage: python bench/bench_wandb_service.py [--jobs 8] [--repeats 3] [--out DIR]

The sweep is ``python -m runner -m hydra/launcher=joblib model=logreg trainer.max_steps=2
logger=wandb logger.mode=offline "seed=range(0,N)"`` on the generated digits (cached first),
in a fresh process, timed from start to exit: once as the runner runs it (the sweep's process
starts W&B's service and its workers use it, ``runner/sweeps/wandb_service.py``), once with
``logger.share_service=false`` (each worker process starts a service of its own), alternating,
median of the repeats. Each job's W&B run is checked to have been written.

The numbers go to ``docs/results/bench_wandb_service.json``: ``shared_s`` and ``own_s`` (the
medians), ``per_job_shared_s`` and ``per_job_own_s``, and ``ratio`` (own / shared: above 1,
sharing is faster).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import record  # noqa: E402 (this script's folder is on sys.path)

JOB = ["hydra/launcher=joblib", "model=logreg", "trainer.max_steps=2", "device=cpu",
       "logger=wandb", "logger.mode=offline"]  # fmt: skip
WAYS = {"shared": [], "own": ["logger.share_service=false"]}


def sweep_seconds(jobs: int, sweep_dir: Path, data_root: Path, extra: list[str]) -> float:
    """Seconds from the command's start to its exit; every job's W&B run written."""
    command = [sys.executable, "-m", "runner", "-m", *JOB, f"seed=range(0,{jobs})",
               f"data.root={data_root}", f"hydra.sweep.dir={sweep_dir}", *extra]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    written = list(sweep_dir.glob("[0-9]*/wandb/offline-run-*/run-*.wandb"))
    if len(written) != jobs:
        raise SystemExit(f"{sweep_dir}: {len(written)} W&B runs written for {jobs} jobs")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=record.RESULTS)
    args = parser.parse_args()
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory(prefix="runner-wandb-service-") as name:
        scratch = Path(name)
        data_root = scratch / "data"
        sweep_seconds(1, scratch / "warm", data_root, [])  # the digits, generated once
        for repeat in range(args.repeats):
            for way, extra in WAYS.items():
                sweep_dir = scratch / f"{way}-{repeat}"
                times[way].append(sweep_seconds(args.jobs, sweep_dir, data_root, extra))
    shared, own = (statistics.median(times[way]) for way in WAYS)
    print(f"{args.jobs} jobs: one shared W&B service {shared:.1f} s, a service per worker "
          f"{own:.1f} s: {own / shared:.2f}x")  # fmt: skip
    record.write(
        "bench_wandb_service",
        {
            "jobs": args.jobs, "repeats": args.repeats,
            "shared_s": shared, "own_s": own,
            "per_job_shared_s": shared / args.jobs, "per_job_own_s": own / args.jobs,
            "ratio": own / shared, "all_s": times,
        },
        measures="Seconds from start to exit of a joblib sweep of tiny jobs logging to W&B "
        "offline, its workers sharing the sweep's W&B service or each starting its own, "
        "alternating, median of the repeats.",
        out=args.out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
