"""The VAE side by side with pytorch/examples' vae/main.py, end to end and phase by phase,
on the same files.

Usage: python bench/bench_vae_reference.py --reference PATH/TO/examples/vae/main.py
                                           [--epochs 3] [--repeats 1] [--sets small,full]

The reference script is the one most people start from (git clone
https://github.com/pytorch/examples). Both programs read the same MNIST-format IDX files,
written here from the runner's generated digits, in two sets: ``small``, 4,000 images (3,500
to train on, 500 to test; the runner holds 500 of the 3,500 out for validation), where a
program's fixed cost dominates; and ``full``, MNIST's 60,000 and 10,000. Both train the same
784-400-20 model with Adam at batch 128 for the same number of epochs on the CPU. The
reference evaluates the ELBO on the test set after every epoch; the runner validates after
every epoch and reports the importance-sampled log-likelihood with K = 100 on the test set at
the end (and, as a second runner program, with K = 1, the ELBO the reference reports), and
writes checkpoints, metrics and figures. Programs alternate.

Each program's time is split in three, from the clock of this script:
- start-up: from the process's start to the end of its first training step (the runner's
  ``perf/startup_s``; the reference's first "Train Epoch" line, printed after its first step);
- training: from there to the end of the last epoch (the runner's ``training_ended_at`` in
  summary.json; the reference's last "====> Epoch" line);
- wind-down: from there to the process's exit (the runner's test evaluation, figures and
  summary; the reference's last test evaluation and its sample images).
``python -c "import torch"`` is timed in the same run, the floor of any start-up.

The numbers go to ``docs/results/bench_vae_reference.json``: ``sets.<small|full>.programs.
<reference|runner|runner_k1>`` with ``seconds``, ``startup_s``, ``train_s``, ``wind_down_s``
and ``ratio`` (reference / this), and ``import_torch_s``.
"""

import argparse
import json
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
SETS = {"small": (3_500, 500), "full": (60_000, 10_000)}  # training and test images
VALIDATION = {"small": 500, "full": 5_000}  # the runner's held-out images
REFERENCE = "reference"
RUNNERS = {
    "runner": [],
    "runner_k1": ["model.importance_samples=1", "model.val_importance_samples=1"],
}
LABELS = {
    "reference": "pytorch/examples vae/main.py",
    "runner": "runner (test log-likelihood, K = 100)",
    "runner_k1": "runner, K = 1 (the test ELBO, as the reference)",
}
PHASES = ("startup_s", "train_s", "wind_down_s")


def write_idx(path: Path, array) -> None:  # noqa: ANN001 (a uint8 tensor)
    """An IDX file as MNIST ships it: magic (unsigned bytes, rank), sizes, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.write_bytes(header + array.contiguous().numpy().tobytes())


def write_mnist_files(data_root: Path, train_size: int, test_size: int) -> None:
    """The runner's generated digits as MNIST's four raw IDX files under data_root/MNIST/raw."""
    from runner.data.datasets import digits

    train, test = digits(str(data_root / "cache"), seed=0, train_size=train_size,
                         test_size=test_size)  # fmt: skip
    raw = data_root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images.images.squeeze(1))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", images.labels.to(dtype=images.images.dtype))


def run_timed(command: list[str], cwd: Path) -> tuple[float, float, list[tuple[float, str]]]:
    """Run ``command``: its start and exit times (Unix seconds) and each line it printed with
    the time it arrived."""
    started = time.time()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines = [(time.time(), line) for line in process.stdout]  # type: ignore[union-attr]
    process.wait()
    ended = time.time()
    if process.returncode != 0:
        said = "".join(line for _, line in lines[-20:])
        raise SystemExit(f"failed: {' '.join(command)}\n{said}")
    return started, ended, lines


def reference_phases(started: float, ended: float, lines: list[tuple[float, str]]) -> dict:
    """The reference's phases, from when its lines arrived: the first step's line, the last
    epoch's summary line."""
    first_step = next(t for t, line in lines if line.startswith("Train Epoch"))
    last_epoch = [t for t, line in lines if line.startswith("====> Epoch")][-1]
    return phases(started, first_step, last_epoch, ended)


def runner_phases(started: float, ended: float, run_dir: Path) -> dict:
    """The runner's phases, from what it recorded: its start-up, when training ended."""
    records = read_metrics(run_dir / "metrics.jsonl")
    startup = next(r["perf/startup_s"] for r in records if "perf/startup_s" in r)
    summary = json.loads((run_dir / "summary.json").read_text())
    return phases(started, started + startup, summary["training_ended_at"], ended)


def phases(started: float, first_step: float, trained: float, ended: float) -> dict:
    return {
        "seconds": ended - started,
        "startup_s": first_step - started,
        "train_s": trained - first_step,
        "wind_down_s": ended - trained,
    }


def runner_command(epochs: int, set_name: str, data_root: Path, run_dir: Path,
                   extra: list[str]) -> list[str]:  # fmt: skip
    return [
        sys.executable, "-u", "-m", "runner", "model=vae", "data=mnist",
        f"data.root={data_root}", f"data.val_size={VALIDATION[set_name]}",
        f"data.batch_size={BATCH_SIZE}", f"trainer.epochs={epochs}", "device=cpu",
        "logger=none", f"hydra.run.dir={run_dir}", *extra,
    ]  # fmt: skip


def import_torch_seconds(cwd: Path) -> float:
    started, ended, _ = run_timed([sys.executable, "-c", "import torch"], cwd)
    return ended - started


def measure_set(set_name: str, args: argparse.Namespace, scratch: Path) -> dict:
    """Both programs on one set, alternating, --repeats times; medians of each phase."""
    data_root = scratch / set_name / "data"  # main.py reads ../data from its own directory
    write_mnist_files(data_root, *SETS[set_name])
    workdir = scratch / set_name / "reference"
    (workdir / "results").mkdir(parents=True)
    shutil.copy(args.reference, workdir / "main.py")
    reference = [sys.executable, "-u", "main.py", "--epochs", str(args.epochs), "--no-accel"]
    measured: dict[str, list[dict]] = {name: [] for name in [REFERENCE, *RUNNERS]}
    torch_floor = []
    for repeat in range(args.repeats):
        torch_floor.append(import_torch_seconds(workdir))
        measured[REFERENCE].append(reference_phases(*run_timed(reference, workdir)))
        for name, extra in RUNNERS.items():
            run_dir = scratch / set_name / f"{name}-{repeat}"
            command = runner_command(args.epochs, set_name, data_root, run_dir, extra)
            started, ended, _ = run_timed(command, REPO)
            measured[name].append(runner_phases(started, ended, run_dir))
    medians = {name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
               for name, runs in measured.items()}  # fmt: skip
    for entry in medians.values():
        entry["ratio"] = medians[REFERENCE]["seconds"] / entry["seconds"]
    floor = statistics.median(torch_floor)
    runner = medians["runner"]
    return {
        "train_images": SETS[set_name][0], "test_images": SETS[set_name][1],
        "import_torch_s": floor,
        "startup_over_import_torch_s": runner["startup_s"] - floor,
        "programs": medians,
    }  # fmt: skip


def print_set(set_name: str, found: dict) -> None:
    print(f"\n{set_name}: {found['train_images']:,} training and {found['test_images']:,} test "
          f"images; import torch {found['import_torch_s']:.2f} s")  # fmt: skip
    print("| program | end to end | start-up | training | wind-down | reference / this |")
    print("|---|---|---|---|---|---|")
    for name, entry in found["programs"].items():
        cells = [f"{entry[key]:.2f} s" for key in ("seconds", *PHASES)]
        print(f"| {LABELS[name]} | {' | '.join(cells)} | {entry['ratio']:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="examples/vae/main.py")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sets", default="small,full", help="small, full")
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    if not args.reference.is_file():
        parser.error(f"--reference: no file {args.reference}")
    chosen = args.sets.split(",")
    if not set(chosen) <= set(SETS):
        parser.error(f"--sets: choose from {', '.join(SETS)}")
    with tempfile.TemporaryDirectory() as scratch:
        sets = {name: measure_set(name, args, Path(scratch)) for name in chosen}
    for name, found in sets.items():
        print_set(name, found)
    record.write(
        "bench_vae_reference",
        {"epochs": args.epochs, "repeats": args.repeats, "batch_size": BATCH_SIZE,
         "labels": LABELS, "sets": sets},
        measures="Seconds from process start to exit of pytorch/examples' vae/main.py and of "
        "the runner's VAE on the same IDX files, alternating, split into start-up, training and "
        "wind-down, beside import torch.",
        out=args.out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
