"""Time one optimizer step of experiments.adam.Adam and AdaMax against torch.optim.Adam.

Usage: python bench/bench_adam.py [--device cpu|cuda] [--repeats N] [--out DIR]

Optimizers compared, in one process, on the same parameters and fixed random gradients:
this Adam and AdaMax on each of their paths (fused, multi-tensor, per-tensor reference; Adam
also without bias correction, §6.4), and torch.optim.Adam with foreach=True and with
fused=True. Steps are timed round-robin (one step of each optimizer per round) so that drift
in the machine's speed affects them alike; the table gives the median over rounds and the
ratio to torch's fused Adam (below 1: faster). AdaMax's fused path compiles at its first
step, which is untimed and reported on its own. The numbers go to
``docs/results/bench_adam.json`` (``--out``): per model (``stn``, ``mlp``) and optimizer, the
median step in seconds, its ratio to torch's fused step and the first (untimed) step.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import record  # this script's folder is on sys.path
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from experiments.adam import Adam, AdaMax  # noqa: E402 (after the path is set)
from experiments.stn import STNClassifier  # noqa: E402

WARMUP = 5


def mlp_10m() -> nn.Module:
    """An MLP of about ten million parameters (1024 → 2304 → 2304 → 1024)."""
    return nn.Sequential(
        nn.Linear(1024, 2304), nn.ReLU(), nn.Linear(2304, 2304), nn.ReLU(), nn.Linear(2304, 1024)
    )


# The optimizers timed: the key in the results file, the name printed.
NAMES = {
    "adam_fused": "this Adam, fused",
    "adam_fused_no_bias_correction": "this Adam, fused, no bias corr.",
    "adamax_fused": "this AdaMax, fused",
    "adam_foreach": "this Adam, foreach",
    "adamax_foreach": "this AdaMax, foreach",
    "adam_per_tensor": "this Adam, per-tensor",
    "torch_adam_foreach": "torch Adam, foreach",
    "torch_adam_fused": "torch Adam, fused",
}
MODELS = {"stn": "STNClassifier()", "mlp": "MLP 10M"}


def optimizers(
    params: list[nn.Parameter], device: str
) -> tuple[dict[str, Callable[[], None]], dict[str, float]]:
    """The step functions to time, by key, and the seconds of each one's first (untimed) step.
    All share the parameters; each has its own state."""
    candidates = {
        "adam_fused": lambda: Adam(params, fused=True),
        "adam_fused_no_bias_correction": lambda: Adam(params, fused=True, bias_correction=False),
        "adamax_fused": lambda: AdaMax(params, fused=True),
        "adam_foreach": lambda: Adam(params, foreach=True),
        "adamax_foreach": lambda: AdaMax(params, foreach=True),
        "adam_per_tensor": lambda: Adam(params, foreach=False),
        "torch_adam_foreach": lambda: torch.optim.Adam(params, foreach=True),
        "torch_adam_fused": lambda: torch.optim.Adam(params, fused=True),
    }
    steps, firsts = {}, {}
    for key, make in candidates.items():
        try:
            optimizer = make()
            start = time.perf_counter()
            optimizer.step()
            firsts[key] = time.perf_counter() - start
        except (RuntimeError, ValueError) as error:
            print(f"note: skipping {NAMES[key]} on {device}: {str(error).splitlines()[0]}")
            continue
        if firsts[key] > 0.5:
            print(f"note: {NAMES[key]}: the first step took {firsts[key]:.1f} s (compilation)")
        steps[key] = optimizer.step
    return steps, firsts


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench(model: nn.Module, device: str, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per step of each optimizer over ``repeats`` round-robin rounds, and the
    seconds of each one's first step."""
    params = list(model.to(device).parameters())
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator).to(device)
    steps, firsts = optimizers(params, device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    with torch.no_grad():
        for round_ in range(WARMUP + repeats):
            for name, step in steps.items():
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                if round_ >= WARMUP:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}, firsts


def print_table(title: str, medians: dict[str, float]) -> None:
    reference = medians["torch_adam_fused"]
    print(f"\n{title}")
    print(f"{'optimizer':<32} {'median step':>12} {'vs torch fused':>15}")
    for key, seconds in medians.items():
        print(f"{NAMES[key]:<32} {seconds * 1e3:>9.3f} ms {seconds / reference:>14.2f}×")


def measured(
    model: nn.Module, repeats: int, medians: dict[str, float], firsts: dict[str, float]
) -> dict:
    """One model's entry in the results file: its size, and per optimizer the median step
    (seconds), its ratio to torch's fused step and the first step (seconds)."""
    reference = medians["torch_adam_fused"]
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "tensors": len(list(model.parameters())),
        "repeats": repeats,
        "optimizers": {
            key: {"step_s": seconds, "ratio": seconds / reference, "first_step_s": firsts[key]}
            for key, seconds in medians.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per optimizer")
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads")

    models = {"stn": STNClassifier(), "mlp": mlp_10m()}
    results = {}
    for key, model in models.items():
        count = sum(p.numel() for p in model.parameters())
        repeats = args.repeats or (1000 if count < 1e6 else 30)
        medians, firsts = bench(model, args.device, repeats)
        print_table(
            f"{MODELS[key]}: {count:,} parameters in {len(list(model.parameters()))} tensors,"
            f" median of {repeats} steps",
            medians,
        )
        results[key] = measured(model, repeats, medians, firsts)
    record.write(
        "bench_adam", {"device": args.device, "threads": torch.get_num_threads(), "models": results}, out=args.out,
        measures="One optimizer step of this Adam and AdaMax on each path against torch's "
        "Adam, on fixed random gradients, median over round-robin rounds.",
    )  # fmt: skip


if __name__ == "__main__":
    main()
