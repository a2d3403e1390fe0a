"""The runner of today against an earlier commit: training speed and the wait for the first step.

Usage: python bench/bench_before_after.py [--baseline REV] [--models stn,vae,gan] [--steps N]
                                          [--repeats N] [--out DIR]

The earlier commit (default: the last one before the fused Adam and the torch-free command
line) is checked out in a temporary git worktree, and both trees run the same command lines,
alternately, in fresh processes on the CPU:

* training speed: ``python -m runner model=M`` for --steps steps on a small generated data
  set, without W&B; the median of the logged samples/s windows after the first;
* the wait for the first step of the main job (``python -m runner``): seconds from the
  process's start to the end of its first optimizer step, taken by the same probe in both
  trees (torch's global optimizer-step hook), which ends the process there; beside it,
  ``python -c "import torch"`` from start to exit, the floor of any start-up.

The numbers go to ``docs/results/bench_before_after.json`` (``--out``): ``models.<model>``
holds each tree's samples/s and their ratio, ``first_step`` each tree's seconds, how many
times faster now is, ``import_torch_s`` and ``now_over_import_torch_s``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere

import record  # noqa: E402 (this script's folder is on sys.path)
from bench_training import QUICK_EVALUATION, SMALL_DATA  # noqa: E402 (the same short runs)
from bench_vae_reference import import_torch_seconds  # noqa: E402 (timed the same way)

from runner.records.metrics import read_metrics  # noqa: E402 (after the path is set)

DEFAULT_BASELINE = "189186a"
IMPORT_TORCH = "import torch"  # timed beside the trees' main jobs
# runner.platform.startup.process_started, written out: the baseline tree has no runner.platform.startup.
PROBE = """
import os, runpy, sys, time
from pathlib import Path
stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
uptime = float(Path("/proc/uptime").read_text().split()[0])
started = time.time() - (uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK"))
from torch.optim.optimizer import register_optimizer_step_post_hook
def first_step(optimizer, args, kwargs):
    print(f"first step after {time.time() - started:.3f} s", flush=True)
    os._exit(0)
register_optimizer_step_post_hook(first_step)
sys.argv = ["runner", *sys.argv[1:]]
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


def run(tree: Path, command: list[str]) -> str:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed in {tree}: {' '.join(command)}\n{result.stderr[-2000:]}")
    return result.stdout


def training_speed(tree: Path, model: str, steps: int, scratch: Path, run_name: str) -> float:
    run_dir = scratch / run_name
    run(tree, [
        sys.executable, "-m", "runner", f"model={model}", *QUICK_EVALUATION.get(model, []),
        *SMALL_DATA, f"data.root={scratch / 'data'}", "device=cpu", "logger=none",
        f"trainer.max_steps={steps}", f"trainer.log_every={steps // 6}",
        "trainer.eval_every=1000", f"hydra.run.dir={run_dir}",
    ])  # fmt: skip
    records = read_metrics(run_dir / "metrics.jsonl")
    return statistics.median(r["perf/samples_per_s"] for r in records if "perf/samples_per_s" in r)


def first_step_wait(tree: Path, scratch: Path, run_name: str) -> float:
    """Seconds to the end of the main job's first step, from the probe's line."""
    command = [sys.executable, "-c", PROBE, f"data.root={scratch / 'data'}", "device=cpu",
               "logger=none", f"hydra.run.dir={scratch / run_name}"]  # fmt: skip
    line = run(tree, command).strip().splitlines()[-1]
    return float(line.split()[-2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--models", default="stn,vae,gan")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        baseline = scratch / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet",
                        str(baseline), args.baseline], check=True)  # fmt: skip
        trees = {f"before ({args.baseline})": baseline, "now": REPO}
        try:
            speeds, waits = measure(
                trees, args.models.split(","), args.steps, args.repeats, scratch
            )
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(baseline)], check=False)  # fmt: skip

    print_comparison(list(trees), speeds, waits, args.repeats)
    record.write(
        "bench_before_after",
        {"baseline": args.baseline, "steps": args.steps, "repeats": args.repeats,
         **medians(list(trees), speeds, waits)},
        measures="Training samples/s and the main job's seconds to its first step, in this "
        "tree and in an earlier commit, alternating, in fresh processes on the CPU, beside "
        "import torch.",
        out=args.out,
    )  # fmt: skip


def measure(
    trees: dict[str, Path], models: list[str], steps: int, repeats: int, scratch: Path
) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[float]]]:
    """Samples/s of each model in each tree, and the seconds to the main job's first step in
    each tree and of ``import torch``, ``repeats`` times, alternating."""
    for name, tree in trees.items():  # the main job once in each tree: both find the data made
        first_step_wait(tree, scratch, f"warm-{name[:3]}")
    waits: dict[str, list[float]] = {name: [] for name in [*trees, IMPORT_TORCH]}
    speeds = {model: {name: [] for name in trees} for model in models}
    for repeat in range(repeats):
        waits[IMPORT_TORCH].append(import_torch_seconds(REPO))
        for index, (name, tree) in enumerate(trees.items()):
            waits[name].append(first_step_wait(tree, scratch, f"wait-{index}-{repeat}"))
            for model, by_tree in speeds.items():
                run_name = f"{model}-{index}-{repeat}"
                by_tree[name].append(training_speed(tree, model, steps, scratch, run_name))
    return speeds, waits


def medians(
    trees: list[str], speeds: dict[str, dict[str, list[float]]], waits: dict[str, list[float]]
) -> dict:
    """The results file's numbers: per model the samples/s of each tree and now / before, and
    the seconds to the first step in each tree and before / now."""
    before, now = trees
    models = {}
    for model, by_tree in speeds.items():
        b, n = statistics.median(by_tree[before]), statistics.median(by_tree[now])
        models[model] = {"before": b, "now": n, "ratio": n / b}
    b, n = statistics.median(waits[before]), statistics.median(waits[now])
    floor = statistics.median(waits[IMPORT_TORCH])
    first_step = {"before_s": b, "now_s": n, "speedup": b / n, "import_torch_s": floor,
                  "now_over_import_torch_s": n - floor}  # fmt: skip
    return {"models": models, "first_step": first_step}


def print_comparison(
    trees: list[str],
    speeds: dict[str, dict[str, list[float]]],
    waits: dict[str, list[float]],
    repeats: int,
) -> None:
    before, now = trees
    print(f"{os.cpu_count()} cores, CPU, median of {repeats} run(s) of each tree\n")
    print(f"| | {before} | {now} | now / before |")
    print("|---|---|---|---|")
    for model, by_tree in speeds.items():
        b, n = (statistics.median(by_tree[name]) for name in trees)
        print(f"| `model={model}`, samples/s | {b:,.0f} | {n:,.0f} | {n / b:.2f}× |")
    b, n = (statistics.median(waits[name]) for name in trees)
    print(
        f"| main job, process start to first step | {b:.2f} s | {n:.2f} s | {b / n:.2f}× faster |"
    )
    floor = statistics.median(waits[IMPORT_TORCH])
    print(f"\n`import torch` {floor:.2f} s: the main job's first step {n - floor:+.2f} s after it")


if __name__ == "__main__":
    main()
