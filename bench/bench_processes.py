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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from hydra import compose, initialize_config_dir

from runner.metrics import read_metrics
from runner.train import CONF_DIR, run

SMALL_DATA = ["data.dataset.train_size=6000", "data.dataset.test_size=500", "data.val_size=500"]
QUICK_EVALUATION = {
    "gan": ["model.parzen_samples=200", "model.parzen_val_images=100"],
    "vae": ["model.importance_samples=2"],
}


def measure(model: str, processes: int, args: argparse.Namespace, data_root: Path) -> float:
    """Median samples/s (after the first window) of one run."""
    overrides = [
        f"model={model}", *QUICK_EVALUATION.get(model, []), *SMALL_DATA, f"data.root={data_root}",
        f"device={args.device}", "logger=none", f"trainer.max_steps={args.steps}",
        f"trainer.log_every={args.steps // 6}", "trainer.eval_every=1000",
        f"data.batch_size={args.batch_size}", f"device.processes={processes}",
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        run(cfg, Path(run_dir))
        records = read_metrics(Path(run_dir) / "metrics.jsonl")
    return statistics.median(r["perf/samples_per_s"] for r in records if "perf/samples_per_s" in r)


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
