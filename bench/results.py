"""``make results``: the measurements the documentation quotes, into ``docs/results/*.json``.

Each file holds the command that produced it, the machine, the versions, the commit and the
date beside the numbers; the pages read them through ``docs/macros.py``, so no measured
number is typed by hand. Today: ``main_job.json``, the main job as a new user runs it
(``python -m runner``, W&B off), timed from the command's start to its exit on a warm data
cache, with its test accuracy.

    .venv/bin/python bench/results.py [--out docs/results]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def describe_machine() -> dict:
    import torch

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "os": platform.system()}


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "hydra-core", "wandb")} | {
        "python": platform.python_version()
    }


def commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


def keep_figure(run_dir: Path, out: Path) -> None:
    """The STN's inputs beside what its transformer made of them: the README's picture."""
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "figures" / "stn.png", out)


def main_job(scratch: Path) -> dict:
    """The main job twice: the first fills the data cache (as a user's first run does), the
    second is timed."""
    command = [sys.executable, "-m", "runner", "logger=none", f"data.root={scratch / 'data'}"]
    subprocess.run([*command, "trainer.max_steps=1", f"hydra.run.dir={scratch / 'warm'}"],
                   cwd=REPO, check=True, capture_output=True)  # fmt: skip
    started = time.monotonic()
    subprocess.run([*command, f"hydra.run.dir={scratch / 'run'}"], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    seconds = time.monotonic() - started
    summary = json.loads((scratch / "run" / "summary.json").read_text())
    return {
        "wall_time_s": round(seconds, 1),
        "test_acc": summary["metrics"]["test/acc"],
        "steps": summary["steps"],
        "device": summary["device"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runner-results-") as scratch:
        measured = main_job(Path(scratch))
        keep_figure(Path(scratch) / "run", REPO / "docs" / "images" / "stn.png")
    record = {
        "command": "make results",
        "measures": "python -m runner logger=none, from the command's start to its exit, data cached",
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": describe_machine(),
        "versions": versions(),
        **measured,
    }
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "main_job.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"{options.out / 'main_job.json'}: {measured['wall_time_s']} s, test/acc {measured['test_acc']:.4f}"
    )


if __name__ == "__main__":
    main()
