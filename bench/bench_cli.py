"""Time the command line's answers that train nothing: help, printed configs, one-line errors.

Usage: python bench/bench_cli.py [--repeats N] [--out DIR]

Each command is a fresh ``python -m runner ...`` process, timed from start to exit (median of
``--repeats``), and run once more under ``-X importtime`` to list which of torch,
torchvision, wandb and optuna it imported (none should be). Two references are timed the same
way in the same run: ``import hydra`` (the least such a command can cost) and
``import torch`` (what every one of them paid while the command line imported it).

The numbers go to ``docs/results/bench_cli.json`` (``--out``): ``references.<name>`` in
seconds, and ``commands.<name>`` with its seconds, its ratios to the two references and the
heavy modules it imported.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import record  # this script's folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "wandb", "optuna")
# The results file's key of each command and reference.
KEYS = {
    "import hydra": "import_hydra",
    "import torch": "import_torch",
    "--help": "help",
    "--cfg job": "cfg_job",
    "--cfg hydra": "cfg_hydra",
    "--cfg all": "cfg_all",
    "--info": "info",
    "error: model=stm": "error_option",
    "error: trainer.epoch=3": "error_key",
    "error: -m model=gan,stn model.k_disc_steps=2": "error_sweep",
}
COMMANDS = {
    "--help": ["-m", "runner", "--help"],
    "--cfg job": ["-m", "runner", "--cfg", "job"],
    "--cfg hydra": ["-m", "runner", "--cfg", "hydra"],
    "--cfg all": ["-m", "runner", "--cfg", "all"],
    "--info": ["-m", "runner", "--info"],
    "error: model=stm": ["-m", "runner", "model=stm"],
    "error: trainer.epoch=3": ["-m", "runner", "trainer.epoch=3"],
    "error: -m model=gan,stn model.k_disc_steps=2": [
        "-m",
        "runner",
        "-m",
        "model=gan,stn",
        "model.k_disc_steps=2",
    ],
}
REFERENCES = {
    "import hydra": ["-c", "import hydra.main, omegaconf"],
    "import torch": ["-c", "import torch"],
}


def seconds(arguments: list[str]) -> float:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], cwd=REPO, env=environment, capture_output=True)
    return time.perf_counter() - start


def heavy_imports(arguments: list[str]) -> list[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        cwd=REPO, env=environment, capture_output=True, text=True,
    )  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    return [name for name in HEAVY if name in imported]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=record.RESULTS, help="results folder")
    arguments = parser.parse_args()
    timed = {**REFERENCES, **COMMANDS}
    for command in timed.values():
        seconds(command)  # warm the file cache
    medians = {
        name: statistics.median(seconds(command) for _ in range(arguments.repeats))
        for name, command in timed.items()
    }
    hydra, torch = medians["import hydra"], medians["import torch"]
    print(f"python -m runner ... (2-core CPU, median of {arguments.repeats})")
    print(f"{'command':<46} {'wall':>7} {'/ hydra':>8} {'/ torch':>8}  heavy imports")
    commands = {}
    for name, median in medians.items():
        heavy = [] if name in REFERENCES else heavy_imports(timed[name])
        shown = "" if name in REFERENCES else (", ".join(heavy) or "none")
        print(
            f"{name:<46} {median:>6.2f}s {median / hydra:>7.2f}x {median / torch:>7.2f}x  {shown}"
        )
        if name not in REFERENCES:
            commands[KEYS[name]] = {"seconds": median, "over_hydra": median / hydra,
                                    "over_torch": median / torch, "heavy_imports": heavy}  # fmt: skip
    references = {KEYS[name]: medians[name] for name in REFERENCES}
    record.write(
        "bench_cli", {"repeats": arguments.repeats, "references": references, "commands": commands}, out=arguments.out,
        measures="Seconds from start to exit of python -m runner commands that train nothing, "
        "each a fresh process, beside import hydra and import torch timed the same way.",
    )  # fmt: skip


if __name__ == "__main__":
    main()
