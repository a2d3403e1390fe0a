"""Training throughput of a run in 2 (or more) data-parallel processes against 1 process.

Usage: python bench/bench_processes.py [--device cpu|cuda] [--models stn,vae,gan]
                                       [--processes 2] [--steps N] [--repeats N]

For each model, the same short run (generated digits, global batch 64 unless --batch-size,
no W&B) is trained through the runner's Python API with device.processes=1 and with
device.processes=N, alternating, for --repeats rounds. On the CPU the one process uses all
cores (torch's threads) and each of the N processes its share of them, so the comparison is
of the same machine used two ways. A run's speed is the median of its logged
perf/samples_per_s windows after the first (global samples: all processes together); the
table gives the median over the rounds and the ratio of N processes to one.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_training import median_speed, training_records  # this script's folder is on sys.path


def measure(model: str, processes: int, args: argparse.Namespace, data_root: Path) -> float:
    """Median samples/s (after the first window) of one run."""
    settings = [f"data.batch_size={args.batch_size}", f"device.processes={processes}"]
    return median_speed(training_records(model, args.device, args.steps, data_root, settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="stn,vae,gan")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    many = args.processes
    rows = [f"| model | 1 process | {many} processes | ratio |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as data_root:
        for model in args.models.split(","):
            speeds: dict[int, list[float]] = {1: [], many: []}
            for _ in range(args.repeats):
                for count in speeds:
                    speeds[count].append(measure(model, count, args, Path(data_root)))
            one, several = (statistics.median(speeds[count]) for count in (1, many))
            rows.append(f"| {model} | {one:,.0f} | {several:,.0f} | {several / one:.2f}× |")
            print(rows[-1], flush=True)
    print(f"\ntraining throughput on {args.device}, global batch {args.batch_size}, samples/s "
          f"(median of {args.repeats} runs), {many} processes against 1")  # fmt: skip
    print("\n".join(rows))


if __name__ == "__main__":
    main()
