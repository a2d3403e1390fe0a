"""Sweeps of many tiny jobs: how soon the first job starts, what a job costs beside Hydra
alone, how soon the report comes, and stopping and resuming a 10,000-job sweep.

Usage: python bench/bench_sweep_scale.py [--sizes 100,1000,10000] [--per-job 300]
                                         [--report 1000]

The jobs are ``python -m runner -m model=logreg trainer.max_steps=2 logger=none
"seed=range(0,N)"`` under the basic launcher on the generated digits (cached first), each a
fresh process as a user runs it. Measured, all in one run:
- time to the first job: from the command's start until the first job's directory exists
  (Hydra makes it as the job starts), for each N of --sizes; the largest is stopped by
  SIGINT (Ctrl-C) once its first job has ended, the time to its exit taken, and resumed
  with ``resume=true``: the time until its first new job starts;
- the cost of a job at N = --per-job: the sweep's seconds divided by its jobs, beside the
  floor: the same sweep of ``bench/noop_task.py``, a Hydra task that does nothing on the same
  conf/ tree with the runner's callbacks off (Hydra's defaults: every job composed before
  the first is launched, then again as it runs), its ratio to that floor;
- the report's latency at N = --report: from the last job's summary.json to the command's
  exit, after the sweep's tables and summary files.
The numbers go to ``docs/results/bench_sweep_scale.json``.
"""

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import record  # noqa: E402 (this script's folder is on sys.path)

JOB = ["model=logreg", "trainer.max_steps=2", "logger=none", "device=cpu"]
POLL_S = 0.01


def sweep_command(size: int, sweep_dir: Path, data_root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "runner", "-m", *JOB, f"seed=range(0,{size})",
            f"data.root={data_root}", f"hydra.sweep.dir={sweep_dir}", *extra]  # fmt: skip


def wait_for(path: Path, process: subprocess.Popen, limit_s: float = 3600) -> float:
    """The time ``path`` appeared (Unix seconds); the process must still be running."""
    deadline = time.time() + limit_s
    while not path.exists():
        if process.poll() is not None:
            raise SystemExit(f"the sweep ended before {path} appeared: {process.returncode}")
        if time.time() > deadline:
            raise SystemExit(f"{path} did not appear within {limit_s} s")
        time.sleep(POLL_S)
    return time.time()


def first_job(size: int, scratch: Path, data_root: Path) -> dict:
    """Seconds from the command's start to its first job's start, then the sweep stopped."""
    sweep_dir = scratch / f"first-{size}"
    started = time.time()
    process = subprocess.Popen(sweep_command(size, sweep_dir, data_root),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    first = wait_for(sweep_dir / "0" / ".hydra", process) - started
    stop_s = stop(process, sweep_dir)
    return {"first_job_s": first, "stop_s": stop_s, "sweep_dir": sweep_dir}


STOP_LIMIT_S = 120


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C, and wait for the exit; a sweep that carries on is killed, and the bench stops."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_LIMIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise SystemExit(f"the sweep did not stop within {STOP_LIMIT_S} s of Ctrl-C") from None


def let_ctrl_c_reach_the_sweeps() -> None:
    """The sweeps answer SIGINT as a command typed at a terminal does, even when this script
    was started with SIGINT ignored (``nohup``, a background job of a script): an ignored
    signal is inherited, and a sweep started so rightly ignores Ctrl-C, as a background job
    should. A handled signal is not inherited: each sweep starts with Python's own."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stop(process: subprocess.Popen, sweep_dir: Path) -> float:
    """Ctrl-C once the first job has ended; seconds from the signal to the exit."""
    wait_for(sweep_dir / "0" / "summary.json", process)
    signalled = time.time()
    interrupt(process)
    return time.time() - signalled


def resumed(size: int, sweep_dir: Path, data_root: Path) -> dict:
    """The stopped sweep resumed: seconds to its first new job's start, then stopped again."""
    done = {p.parent.name for p in sweep_dir.glob("*/summary.json")}
    new = next(str(n) for n in range(size) if str(n) not in done)
    started = time.time()
    process = subprocess.Popen(sweep_command(size, sweep_dir, data_root, "resume=true"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    first = wait_for(sweep_dir / new / "summary.json", process) - started
    interrupt(process)
    return {"first_new_job_done_s": first, "job": int(new)}


def whole_sweep(command: list[str]) -> tuple[float, float]:
    """When the command started and when it exited (Unix seconds)."""
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return started, time.time()


def seconds(times: tuple[float, float]) -> float:
    return times[1] - times[0]


def per_job(size: int, scratch: Path, data_root: Path) -> dict:
    """A job's cost in the runner's sweep and in Hydra's alone, alternating the two."""
    runner_dir, floor_dir = scratch / f"jobs-{size}", scratch / f"floor-{size}"
    floor = seconds(whole_sweep([sys.executable, str(REPO / "bench" / "noop_task.py"), "-m", *JOB,
                         f"seed=range(0,{size})", f"hydra.sweep.dir={floor_dir}"]))  # fmt: skip
    runner = seconds(whole_sweep(sweep_command(size, runner_dir, data_root)))
    return {
        "jobs": size,
        "runner_s": runner, "floor_s": floor,
        "runner_per_job_s": runner / size, "floor_per_job_s": floor / size,
        "ratio": runner / floor,
    }  # fmt: skip


def report_latency(size: int, scratch: Path, data_root: Path) -> dict:
    """Seconds from the last job's summary to the command's exit."""
    sweep_dir = scratch / f"report-{size}"
    started, ended = whole_sweep(sweep_command(size, sweep_dir, data_root))
    last = max(p.stat().st_mtime for p in sweep_dir.glob("*/summary.json"))
    return {"jobs": size, "latency_s": ended - last, "sweep_s": ended - started}


LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib"]}


def growth(sizes: list[int], scratch: Path, data_root: Path) -> dict:
    """Each launcher's sweeps of each size: seconds, per job, and the marginal cost of the
    larger sweep's extra jobs."""
    found: dict = {}
    for launcher, extra in LAUNCHERS.items():
        runs = {}
        for size in sizes:
            sweep_dir = scratch / f"growth-{launcher}-{size}"
            total = seconds(whole_sweep(sweep_command(size, sweep_dir, data_root, *extra)))
            runs[str(size)] = {"seconds": total, "per_job_s": total / size}
        small, large = runs[str(sizes[0])], runs[str(sizes[-1])]
        added = (large["seconds"] - small["seconds"]) / (sizes[-1] - sizes[0])
        found[launcher] = {
            "sizes": runs,
            "marginal_per_job_s": added,
            "per_job_ratio": large["per_job_s"] / small["per_job_s"],
        }
    return found


def print_growth(grows: dict) -> None:
    for launcher, entry in grows.items():
        each = ", ".join(f"N={n}: {r['per_job_s']:.3f} s a job" for n, r in entry["sizes"].items())
        print(f"{launcher}: {each}; each added job {entry['marginal_per_job_s']:.3f} s")


def print_results(first: dict, jobs: dict, report: dict, grows: dict) -> None:
    for size, entry in first.items():
        print(f"N={size}: first job after {entry['first_job_s']:.2f} s; Ctrl-C stopped it in "
              f"{entry['stop_s']:.2f} s")  # fmt: skip
        if "resumed" in entry:
            print(f"N={size} resumed: its first new job done after "
                  f"{entry['resumed']['first_new_job_done_s']:.2f} s")  # fmt: skip
    print(f"N={jobs['jobs']}: {jobs['runner_per_job_s']:.3f} s a job, Hydra alone "
          f"{jobs['floor_per_job_s']:.3f} s: {jobs['ratio']:.2f}x")  # fmt: skip
    print(f"N={report['jobs']}: report {report['latency_s']:.2f} s after the last job")
    print_growth(grows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--per-job", type=int, default=300)
    parser.add_argument("--report", type=int, default=1000)
    parser.add_argument("--growth", default="10,100")
    parser.add_argument("--out", type=Path, default=record.RESULTS)
    args = parser.parse_args()
    let_ctrl_c_reach_the_sweeps()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="runner-sweep-scale-") as name:
        scratch = Path(name)
        data_root = scratch / "data"
        subprocess.run(
            sweep_command(1, scratch / "warm", data_root), check=True, stdout=subprocess.DEVNULL
        )  # fmt: skip  (the digits, generated once)
        first = {str(size): first_job(size, scratch, data_root) for size in sizes}
        largest = first[str(sizes[-1])]
        largest["resumed"] = resumed(sizes[-1], largest.pop("sweep_dir"), data_root)
        for entry in first.values():
            entry.pop("sweep_dir", None)
        jobs = per_job(args.per_job, scratch, data_root)
        report = report_latency(args.report, scratch, data_root)
        grows = growth([int(size) for size in args.growth.split(",")], scratch, data_root)
    print_results(first, jobs, report, grows)
    record.write(
        "bench_sweep_scale",
        {"first_job": first, "per_job": jobs, "report": report, "growth": grows},
        measures="Sweeps of tiny logreg jobs (basic launcher): seconds to the first job, to "
        "stop on Ctrl-C and to resume; a job's cost beside Hydra alone (a no-op task on the "
        "same conf/); the report's latency after the last job; a job's cost as the sweep "
        "grows, under the basic and joblib launchers.",
        out=args.out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
