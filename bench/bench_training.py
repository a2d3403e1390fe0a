"""Training throughput with trainer.compile=true and trainer.precision=bf16 against the defaults.

Usage: python bench/bench_training.py [--device cpu|cuda] [--models stn,vae,gan] [--steps N]
                                      [--repeats N] [--precisions bf16[,16]] [--out DIR]

For each model, the same short run (generated digits, batch 64, no W&B) is trained through the
runner's Python API in one process: the defaults (float32, eager), trainer.compile=true, and
each mixed precision asked for. Runs alternate, variant after variant, for --repeats rounds.
A run's speed is the median of its logged perf/samples_per_s windows after the first (the
first holds the warm-up); compilation happens in the first step, which the runner times on
its own (perf/compile_s) and leaves out of the throughput. The table gives the median speed of
each variant and its ratio to the defaults measured in the same process, and the compile
time of the model's first compiled run (inductor's cache starts empty: a fresh cache
directory) and of the later ones (which reuse what the process has compiled).

The numbers go to ``docs/results/bench_training.json`` (``--out``): ``models.<model>`` holds
``samples_per_s.<variant>`` (``defaults``, ``compile``, ``bf16``, ``fp16``),
``ratio.<variant>`` (to the defaults), ``step_s`` (seconds per step of the defaults, at
``batch_size``) and ``compile_s.first`` / ``compile_s.later``.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import record  # noqa: E402 (this script's folder is on sys.path)
from hydra import compose, initialize_config_dir  # noqa: E402

from runner.records.metrics import read_metrics  # noqa: E402 (after the path is set)
from runner.train import CONF_DIR, run  # noqa: E402

SMALL_DATA = ["data.dataset.train_size=6000", "data.dataset.test_size=500", "data.val_size=500"]
QUICK_EVALUATION = {
    "gan": ["model.parzen_samples=200", "model.parzen_val_images=100"],
    "vae": ["model.importance_samples=2"],
}
BATCH_SIZE = 64  # conf/config.yaml's data.batch_size, which these runs keep


def training_records(
    model: str, device: str, steps: int, data_root: Path, settings: list[str]
) -> list[dict]:
    """What one short run of ``model`` with ``settings`` logged in ``metrics.jsonl``."""
    overrides = [
        f"model={model}", *QUICK_EVALUATION.get(model, []), *SMALL_DATA, f"data.root={data_root}",
        f"device={device}", "logger=none", f"trainer.max_steps={steps}",
        f"trainer.log_every={steps // 6}", "trainer.eval_every=1000", *settings,
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with tempfile.TemporaryDirectory() as run_dir:
        run(cfg, Path(run_dir))
        return read_metrics(Path(run_dir) / "metrics.jsonl")


def median_speed(records: list[dict]) -> float:
    """The median of the logged samples/s windows after the first (which holds the warm-up)."""
    speeds = [r["perf/samples_per_s"] for r in records if "perf/samples_per_s" in r][1:]
    return statistics.median(speeds)


def measure(
    model: str, variant: list[str], device: str, steps: int, data_root: Path
) -> tuple[float, float | None]:
    """(median samples/s after the first window, compile seconds or None) of one run."""
    records = training_records(model, device, steps, data_root, variant)
    compile_s = next((r["perf/compile_s"] for r in records if "perf/compile_s" in r), None)
    return median_speed(records), compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="stn,vae,gan")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", default="bf16", help="bf16, and 16 on CUDA")
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-inductor-")
    variants = {"defaults": [], "compile": ["trainer.compile=true"]}
    for precision in args.precisions.split(","):
        variants[f"precision={precision}"] = [f"trainer.precision={precision}"]
    names = list(variants)
    header = "| model | " + " | ".join(names) + " | compile, first run | compile, later runs |"
    rows = [header, "|---" * (len(names) + 3) + "|"]
    results = {}
    with tempfile.TemporaryDirectory() as data_root:
        for model in args.models.split(","):
            speeds, compile_times = measure_variants(model, variants, args, Path(data_root))
            rows.append(table_row(model, speeds, compile_times))
            print(rows[-1], flush=True)
            results[model] = measured(speeds, compile_times)
    print(f"\ntraining throughput on {args.device}, samples/s (median of {args.repeats} runs), "
          "ratio to the defaults")  # fmt: skip
    print("\n".join(rows))
    record.write(
        "bench_training",
        {"device": args.device, "steps": args.steps, "repeats": args.repeats,
         "batch_size": BATCH_SIZE, "models": results}, out=args.out,
        measures="Training samples/s with trainer.compile=true and mixed precision against "
        "the defaults, in one process, alternating, and the seconds spent compiling.",
    )  # fmt: skip


def measure_variants(
    model: str, variants: dict[str, list[str]], args: argparse.Namespace, data_root: Path
) -> tuple[dict[str, list[float]], list[float]]:
    """Each variant's samples/s over --repeats alternating rounds, and the compile times."""
    speeds: dict[str, list[float]] = {name: [] for name in variants}
    compile_times = []
    for _ in range(args.repeats):
        for name, variant in variants.items():
            speed, compile_s = measure(model, variant, args.device, args.steps, data_root)
            speeds[name].append(speed)
            if compile_s is not None:
                compile_times.append(compile_s)
    return speeds, compile_times


def variant_key(name: str) -> str:
    """The results file's key of a variant: ``precision=bf16`` is ``bf16``, ``=16`` ``fp16``."""
    precision = name.removeprefix("precision=")
    return f"fp{precision}" if precision.isdigit() else precision


def measured(speeds: dict[str, list[float]], compile_times: list[float]) -> dict:
    """One model's entry in the results file."""
    medians = {variant_key(name): statistics.median(values) for name, values in speeds.items()}
    base = medians["defaults"]
    return {
        "samples_per_s": medians,
        "ratio": {name: m / base for name, m in medians.items() if name != "defaults"},
        "step_s": BATCH_SIZE / base,
        "compile_s": {
            "first": compile_times[0] if compile_times else None,
            "later": statistics.median(compile_times[1:]) if len(compile_times) > 1 else None,
        },
    }


def table_row(model: str, speeds: dict[str, list[float]], compile_times: list[float]) -> str:
    """The model's median speed per variant, as ratios to the defaults, and its compile times."""
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    base = medians.pop("defaults")
    cells = [f"{base:,.0f}"] + [f"{m:,.0f} ({m / base:.2f}×)" for m in medians.values()]
    warm = statistics.median(compile_times[1:]) if len(compile_times) > 1 else float("nan")
    return f"| {model} | " + " | ".join(cells) + f" | {compile_times[0]:.1f} s | {warm:.1f} s |"


if __name__ == "__main__":
    main()
