"""``make results``: the measurements the documentation quotes, into ``docs/results/*.json``.

Each file holds the command that produced it, the machine, the versions, the commit and the
date beside the numbers; the pages read them through ``docs/macros.py``, so no measured
number is typed by hand. ``main_job.json``: the main job as a new user runs it
(``python -m runner``, W&B off), timed from the command's start to its exit on a warm data
cache, with its test accuracy. ``reproduce_short.json``: ``python -m runner.reproduce
paper=all budget=short``, whose report the papers' pages show (about half an hour on 2 CPU
cores).

    .venv/bin/python bench/results.py [--out docs/results] [--only main_job,reproduce]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import record  # this script's folder is on sys.path

REPO = record.REPO


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


def reproduction(scratch: Path, budget: str) -> dict:
    """``python -m runner.reproduce paper=all budget=<budget>``: the papers' claims and the
    experiments' tables the paper pages show."""
    out = scratch / "reproduce"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.reproduce",
            "paper=all",
            f"budget={budget}",
            f"out={out}",
            "logger=none",
            f"data.root={scratch / 'data'}",
        ],
        cwd=REPO,
    )  # fmt: skip  (exit status 1 when a claim does not hold: the report says which)
    return json.loads((out / "report.json").read_text())


def write_main_job(scratch: Path, out: Path) -> None:
    measured = main_job(scratch)
    keep_figure(scratch / "run", REPO / "docs" / "images" / "stn.png")
    path = record.write(
        "main_job", measured, command="make results", out=out,
        measures="python -m runner logger=none, from the command's start to its exit, data cached",
    )  # fmt: skip
    print(f"{path}: {measured['wall_time_s']} s, test/acc {measured['test_acc']:.4f}")


def write_reproduction(scratch: Path, out: Path, budget: str) -> None:
    report = reproduction(scratch, budget)
    path = record.write(
        f"reproduce_{budget}", report, out=out,
        command=f"python -m runner.reproduce paper=all budget={budget} logger=none",
        measures="the papers' claims, each decided from the runs of this commit",
    )  # fmt: skip
    print(f"{path}: {sum(len(p['claims']) for p in report['papers'])} claims")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=record.RESULTS)
    parser.add_argument("--only", default="main_job,reproduce", help="main_job, reproduce")
    parser.add_argument("--budget", default="short", help="the reproduction's budget")
    options = parser.parse_args()
    wanted = options.only.split(",")
    with tempfile.TemporaryDirectory(prefix="runner-results-") as scratch:
        if "main_job" in wanted:
            write_main_job(Path(scratch), options.out)
        if "reproduce" in wanted:
            write_reproduction(Path(scratch), options.out, options.budget)


if __name__ == "__main__":
    main()
