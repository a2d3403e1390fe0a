"""Training throughput of a run in 2 (or more) data-parallel processes against 1 process.

Usage: python bench/bench_processes.py [--device cpu|cuda] [--models stn,vae,gan]
                                       [--processes 2] [--steps N] [--repeats N]
                                       [--batch-size N] [--large-batch N] [--out DIR]

For each model, the same short run (generated digits, global batch 64 unless --batch-size,
no W&B) is trained through the runner's Python API with device.processes=1 and with
device.processes=N, alternating, for --repeats rounds. On the CPU the one process uses all
cores (torch's threads) and each of the N processes its share of them, so the comparison is
of the same machine used two ways. A run's speed is the median of its logged
perf/samples_per_s windows after the first (global samples: all processes together); the
table gives the median over the rounds and the ratio of N processes to one. A last row runs
the STN at a larger global batch (--large-batch, 512; 0 leaves it out) for a fifth of the
steps.

The numbers go to ``docs/results/bench_processes.json`` (``--out``): ``models.<model>`` and
``large_batch`` hold the samples/s of one process (``single``) and of N (``parallel``) and
their ratio.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import record  # this script's folder is on sys.path
from bench_training import median_speed, training_records


def measure(model: str, processes: int, args: argparse.Namespace, data_root: Path) -> float:
    """Median samples/s (after the first window) of one run."""
    settings = [f"data.batch_size={args.batch_size}", f"device.processes={processes}"]
    return median_speed(training_records(model, args.device, args.steps, data_root, settings))


def compare(model: str, args: argparse.Namespace, data_root: Path) -> dict[str, float]:
    """Samples/s of one process and of --processes, alternating for --repeats rounds."""
    speeds: dict[int, list[float]] = {1: [], args.processes: []}
    for _ in range(args.repeats):
        for count in speeds:
            speeds[count].append(measure(model, count, args, data_root))
    one, several = (statistics.median(speeds[count]) for count in (1, args.processes))
    return {"single": one, "parallel": several, "ratio": several / one}


def row(name: str, speeds: dict[str, float]) -> str:
    one, several, ratio = speeds["single"], speeds["parallel"], speeds["ratio"]
    return f"| {name} | {one:,.0f} | {several:,.0f} | {ratio:.2f}× |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="stn,vae,gan")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--large-batch", type=int, default=512, help="the STN's last row; 0: none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    rows = [f"| model | 1 process | {args.processes} processes | ratio |", "|---|---|---|---|"]
    results: dict = {"models": {}}
    with tempfile.TemporaryDirectory() as data_root:
        for model in args.models.split(","):
            results["models"][model] = compare(model, args, Path(data_root))
            rows.append(row(model, results["models"][model]))
            print(rows[-1], flush=True)
        if args.large_batch:
            results["large_batch"] = large_batch(args, Path(data_root))
            rows.append(row(f"stn, global batch {args.large_batch}", results["large_batch"]))
            print(rows[-1], flush=True)
    print(f"\ntraining throughput on {args.device}, global batch {args.batch_size}, samples/s "
          f"(median of {args.repeats} runs), {args.processes} processes against 1")  # fmt: skip
    print("\n".join(rows))
    write_results(args, results)


def large_batch(args: argparse.Namespace, data_root: Path) -> dict[str, float]:
    """The STN at global batch --large-batch for a fifth of the steps."""
    steps = max(args.steps // 5, 6)
    large = argparse.Namespace(**{**vars(args), "batch_size": args.large_batch, "steps": steps})
    return compare("stn", large, data_root) | {"batch_size": args.large_batch, "steps": steps}


def write_results(args: argparse.Namespace, results: dict) -> None:
    """``bench_processes.json``: the settings and the samples/s of each row."""
    names = ("device", "processes", "batch_size", "steps", "repeats")
    record.write(
        "bench_processes", {name: getattr(args, name) for name in names} | results, out=args.out,
        measures=f"Training samples/s of a run in {args.processes} data-parallel processes "
        "against one process, alternating, median of the logged windows after the first.",
    )  # fmt: skip


if __name__ == "__main__":
    main()
