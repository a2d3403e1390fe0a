"""Time the same Optuna search (``search=mlp``, Adam paper §6.2's network) without pruning and
with the median pruner, and compare what each found.

Usage: python bench/bench_search.py [--trials N] [--epochs N] [--subset N] [--out DIR]

Both searches are the real command line (``python -m runner -m search=mlp ...``) in a fresh
process, timed from start to exit, with the same seed: the TPE sampler proposes the same
first trials to both (its first ten are random), and the pruner stops those whose validation
accuracy falls below the median of earlier trials at the same epoch. The dataset is
generated once before timing. The table gives each search's time, its trials by state, the
best validation accuracy found, and the ratio of the times (above 1: pruning saved time).
The numbers go to ``docs/results/bench_search.json`` (``--out``): ``pruners.<none|median>``
with ``seconds``, ``trials.<complete|pruned|fail>`` and ``best_val_acc``, and ``speedup``.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402
from bench_sweep import run_sweep, warm_up  # noqa: E402


def search(trials: int, epochs: int, subset: int, data_root: Path, pruner: list[str]) -> list[str]:
    return [
        "search=mlp", f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.n_jobs=1",
        f"trainer.epochs={epochs}", f"data.subset={subset}", f"data.root={data_root}",
        "device=cpu", "logger=none", *pruner,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    arguments = parser.parse_args()
    pruners = {
        "none": [],
        "median": [
            "hydra.sweeper.pruner=median",
            "+hydra.sweeper.pruner_options.n_startup_trials=3",
        ],
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        warm = ["model=mlp", f"data.subset={arguments.subset}", "device=cpu", "logger=none"]
        warm_up(warm, root / "data", root / "warm")
        rows = {}
        for name, pruner in pruners.items():
            overrides = search(
                arguments.trials, arguments.epochs, arguments.subset, root / "data", pruner
            )
            seconds = run_sweep(overrides, root / name)
            found = OmegaConf.load(root / name / "optimization_results.yaml")
            rows[name] = (seconds, dict(found.trials), found.best_value)
    print(
        f"search=mlp, {arguments.trials} trials of {arguments.epochs} epochs on "
        f"{arguments.subset} images, 2x1000 MLP, TPE seed 0, CPU"
    )
    print(f"{'pruner':<8} {'time':>8}  {'trials':<28} {'best val/acc':>12}")
    for name, (seconds, states, best) in rows.items():
        shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        print(f"{name:<8} {seconds:>7.1f}s  {shown:<28} {best:>12.4f}")
    print(f"none / median: {rows['none'][0] / rows['median'][0]:.2f}x")
    write_results(arguments, rows)


def write_results(arguments: argparse.Namespace, rows: dict[str, tuple]) -> None:
    """``bench_search.json``: each search's seconds, trials by state and best val/acc."""
    pruners = {
        name: {"seconds": seconds, "best_val_acc": best,
               "trials": {"complete": 0, "pruned": 0, "fail": 0, **states}}
        for name, (seconds, states, best) in rows.items()
    }  # fmt: skip
    settings = {k: getattr(arguments, k) for k in ("trials", "epochs", "subset")}
    record.write(
        "bench_search",
        {**settings, "pruners": pruners, "speedup": rows["none"][0] / rows["median"][0]},
        measures="Seconds from start to exit of the same search=mlp study without a pruner "
        "and with the median pruner, its trials by state and its best val/acc.",
        out=arguments.out,
    )


if __name__ == "__main__":
    main()
