"""The VAE side by side with pytorch/examples' vae/main.py, end to end, on the same files.

Usage: python bench/bench_vae_reference.py --reference PATH/TO/examples/vae/main.py
                                           [--epochs 3] [--repeats 1] [--out DIR]

The reference script is the one most people start from (git clone
https://github.com/pytorch/examples). Both programs read the same MNIST-format IDX files,
written here from the runner's generated digits (60,000 training and 10,000 test images; no
download), train the same 784-400-20 model with Adam at batch 128 for the same number of
epochs on the CPU, and are timed from the start of their process to its exit. The reference
evaluates the ELBO on the test set after every epoch; the runner validates on its 5,000
held-out images after every epoch, reports the importance-sampled log-likelihood with K = 100
on the test set at the end, and writes checkpoints, metrics and figures. The runner is timed
twice: as configured (K = model.val_importance_samples at the validations) and with K = 100
at every validation too, as it was before that setting existed. Runs alternate.

The numbers go to ``docs/results/bench_vae_reference.json`` (``--out``): ``programs.<name>``
(``reference``, ``runner``, ``runner_k100``) with ``seconds`` end to end and ``ratio``
(reference / this); the runner's also with its training ``samples_per_s``, ``train_samples``
(steps × batch), ``train_s`` (the two divided) and ``startup_s`` (process start to the end of
its first step, ``perf/startup_s``).
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere

import record  # noqa: E402 (this script's folder is on sys.path)

from runner.records.metrics import read_metrics  # noqa: E402 (after the path is set)

BATCH_SIZE = 128
REFERENCE = "pytorch/examples vae/main.py"
KEYS = {
    REFERENCE: "reference",
    "runner": "runner",
    "runner, K = 100 at every validation": "runner_k100",
}
RUNNER_VARIANTS = {
    "runner": [],
    "runner, K = 100 at every validation": ["model.val_importance_samples=100"],
}


def write_idx(path: Path, array) -> None:  # noqa: ANN001 (a uint8 tensor)
    """An IDX file as MNIST ships it: magic (unsigned bytes, rank), sizes, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.write_bytes(header + array.contiguous().numpy().tobytes())


def write_mnist_files(data_root: Path) -> None:
    """The runner's generated digits as MNIST's four raw IDX files under data_root/MNIST/raw."""
    from runner.data.datasets import digits

    train, test = digits(str(data_root / "cache"), seed=0, train_size=60_000, test_size=10_000)
    raw = data_root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images.images.squeeze(1))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", images.labels.to(dtype=images.images.dtype))


def timed(command: list[str], cwd: Path) -> float:
    """Seconds from starting ``command`` to its successful exit."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return elapsed


def runner_command(epochs: int, data_root: Path, run_dir: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "runner", "model=vae", "data=mnist", f"data.root={data_root}",
        f"data.batch_size={BATCH_SIZE}", f"trainer.epochs={epochs}", "device=cpu", "logger=none",
        f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def training_speed(run_dir: Path) -> float:
    """The median training throughput a run logged, its first window (warm-up) left out."""
    records = read_metrics(run_dir / "metrics.jsonl")
    windows = [r["perf/samples_per_s"] for r in records if "perf/samples_per_s" in r]
    return statistics.median(windows[1:] or windows)


def run_details(run_dir: Path) -> dict[str, float]:
    """A runner run's training samples and its wait for the first step, as it recorded them."""
    records = read_metrics(run_dir / "metrics.jsonl")
    steps = json.loads((run_dir / "summary.json").read_text())["steps"]
    startup = next(r["perf/startup_s"] for r in records if "perf/startup_s" in r)
    return {"train_samples": steps * BATCH_SIZE, "startup_s": startup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="examples/vae/main.py")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    if not args.reference.is_file():
        parser.error(f"--reference: no file {args.reference}")

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        data_root = scratch / "data"  # main.py reads ../data from its own directory
        write_mnist_files(data_root)
        workdir = scratch / "reference"
        (workdir / "results").mkdir(parents=True)
        shutil.copy(args.reference, workdir / "main.py")
        reference = [sys.executable, "main.py", "--epochs", str(args.epochs), "--no-accel"]
        times, speeds, details = alternate(reference, workdir, args, scratch)

    print_results(times, speeds, args.epochs, args.repeats)
    record.write(
        "bench_vae_reference",
        {"epochs": args.epochs, "repeats": args.repeats, "batch_size": BATCH_SIZE,
         "programs": programs(times, speeds, details)},
        command=shlex.join(["python", "bench/bench_vae_reference.py", *sys.argv[1:]]),
        measures="Seconds from process start to exit of pytorch/examples' vae/main.py and of "
        "the runner's VAE on the same IDX files, alternating, with the runner's training speed.",
        out=args.out,
    )  # fmt: skip


def alternate(
    reference: list[str], workdir: Path, args: argparse.Namespace, scratch: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[dict[str, float]]]]:
    """The reference and each runner variant in turn, --repeats times: their seconds, and
    the runner's training speed and run details."""
    data_root = scratch / "data"
    times: dict[str, list[float]] = {REFERENCE: []}
    times |= {name: [] for name in RUNNER_VARIANTS}
    speeds: dict[str, list[float]] = {name: [] for name in RUNNER_VARIANTS}
    details: dict[str, list[dict[str, float]]] = {name: [] for name in RUNNER_VARIANTS}
    for repeat in range(args.repeats):
        times[REFERENCE].append(timed(reference, workdir))
        for variant, (name, extra) in enumerate(RUNNER_VARIANTS.items()):
            run_dir = scratch / f"run-{variant}-{repeat}"
            times[name].append(timed(runner_command(args.epochs, data_root, run_dir, extra), REPO))
            speeds[name].append(training_speed(run_dir))
            details[name].append(run_details(run_dir))
    return times, speeds, details


def programs(
    times: dict[str, list[float]],
    speeds: dict[str, list[float]],
    details: dict[str, list[dict[str, float]]],
) -> dict[str, dict[str, float]]:
    """The results file's entry per program: medians over the repeats, and for the runner its
    training samples, their seconds at the median speed, and its wait for the first step."""
    reference_time = statistics.median(times[REFERENCE])
    found = {}
    for name, values in times.items():
        seconds = statistics.median(values)
        found[KEYS[name]] = entry = {"seconds": seconds, "ratio": reference_time / seconds}
        if name in speeds:
            speed = statistics.median(speeds[name])
            samples = details[name][0]["train_samples"]
            startup = statistics.median(d["startup_s"] for d in details[name])
            entry |= {"samples_per_s": speed, "train_samples": samples,
                      "train_s": samples / speed, "startup_s": startup}  # fmt: skip
    return found


def print_results(
    times: dict[str, list[float]], speeds: dict[str, list[float]], epochs: int, repeats: int
) -> None:
    reference_time = statistics.median(times[REFERENCE])
    print(f"{os.cpu_count()} cores, {epochs} epochs at batch 128, median of {repeats}\n")
    print("| program | end to end | reference / this | training samples/s |")
    print("|---|---|---|---|")
    for name, values in times.items():
        seconds = statistics.median(values)
        speed = f"{statistics.median(speeds[name]):,.0f}" if name in speeds else "—"
        print(f"| {name} | {seconds:.1f} s | {reference_time / seconds:.2f}× | {speed} |")


if __name__ == "__main__":
    main()
