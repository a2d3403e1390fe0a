"""Time one optimizer step of experiments.adam.Adam and AdaMax against torch.optim.Adam.

Usage: python bench/bench_adam.py [--device cpu|cuda] [--repeats N]

Optimizers compared, in one process, on the same parameters and fixed random gradients:
this Adam and AdaMax on each of their paths (fused, multi-tensor, per-tensor reference; Adam
also without bias correction, §6.4), and torch.optim.Adam with foreach=True and with
fused=True. Steps are timed round-robin (one step of each optimizer per round) so that drift
in the machine's speed affects them alike; the table gives the median over rounds and the
ratio to torch's fused Adam (below 1: faster). AdaMax's fused path compiles at its first
step, which is untimed and reported on its own.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from experiments.adam import Adam, AdaMax
from experiments.stn import STNClassifier

WARMUP = 5


def mlp_10m() -> nn.Module:
    """An MLP of about ten million parameters (1024 → 2304 → 2304 → 1024)."""
    return nn.Sequential(
        nn.Linear(1024, 2304), nn.ReLU(), nn.Linear(2304, 2304), nn.ReLU(), nn.Linear(2304, 1024)
    )


def optimizers(params: list[nn.Parameter], device: str) -> dict[str, Callable[[], None]]:
    """The step functions to time, by name. All share the parameters; each has its own state."""
    candidates = {
        "this Adam, fused": lambda: Adam(params, fused=True),
        "this Adam, fused, no bias corr.": lambda: Adam(params, fused=True, bias_correction=False),
        "this AdaMax, fused": lambda: AdaMax(params, fused=True),
        "this Adam, foreach": lambda: Adam(params, foreach=True),
        "this AdaMax, foreach": lambda: AdaMax(params, foreach=True),
        "this Adam, per-tensor": lambda: Adam(params, foreach=False),
        "torch Adam, foreach": lambda: torch.optim.Adam(params, foreach=True),
        "torch Adam, fused": lambda: torch.optim.Adam(params, fused=True),
    }
    steps = {}
    for name, make in candidates.items():
        try:
            optimizer = make()
            start = time.perf_counter()
            optimizer.step()
            first = time.perf_counter() - start
        except (RuntimeError, ValueError) as error:
            print(f"note: skipping {name} on {device}: {str(error).splitlines()[0]}")
            continue
        if first > 0.5:
            print(f"note: {name}: the first step took {first:.1f} s (compilation)")
        steps[name] = optimizer.step
    return steps


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench(model: nn.Module, device: str, repeats: int) -> dict[str, float]:
    """Median seconds per step of each optimizer over ``repeats`` round-robin rounds."""
    params = list(model.to(device).parameters())
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator).to(device)
    steps = optimizers(params, device)
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
    return {name: statistics.median(values) for name, values in times.items()}


def print_table(title: str, medians: dict[str, float]) -> None:
    reference = medians["torch Adam, fused"]
    print(f"\n{title}")
    print(f"{'optimizer':<32} {'median step':>12} {'vs torch fused':>15}")
    for name, seconds in medians.items():
        print(f"{name:<32} {seconds * 1e3:>9.3f} ms {seconds / reference:>14.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per optimizer")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads")

    models = {"STNClassifier()": STNClassifier(), "MLP 10M": mlp_10m()}
    for name, model in models.items():
        count = sum(p.numel() for p in model.parameters())
        repeats = args.repeats or (1000 if count < 1e6 else 30)
        medians = bench(model, args.device, repeats)
        print_table(
            f"{name}: {count:,} parameters in {len(list(model.parameters()))} tensors,"
            f" median of {repeats} steps",
            medians,
        )


if __name__ == "__main__":
    main()
