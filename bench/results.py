"""``make results``: the measurements the documentation quotes, into ``docs/results/*.json``.

Each file holds the command that produced it, the machine, the versions, the commit and the
date beside the numbers; the pages read them through ``docs/macros.py``, so no measured
number is typed by hand. ``main_job.json``: the main job as a new user runs it
(``python -m runner``, W&B off), timed from the command's start to its exit on a warm data
cache, with its test accuracy. ``reproduce_short.json``: ``python -m runner.reproduce
paper=all budget=short``, whose report the papers' pages show (about half an hour on 2 CPU
cores). ``wandb_view.json``: the W&B view a sweep and an Optuna search write
(``dashboard.json``), section by section, which the W&B page lists.

    .venv/bin/python bench/results.py [--out docs/results] [--only main_job,reproduce,wandb_view]
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


VIEWED_SWEEPS = {
    "sweep": ["model=stn", "optim.lr=0.1,0.01", "seed=0,1"],
    "search": ["search=logreg", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1"],
}


def view_of(dashboard: dict) -> dict:
    """A ``dashboard.json`` as the W&B page lists it: its sections' panels (kind, what they
    plot) and how its runs are chosen and grouped."""
    section = dashboard["spec"]["spec"]["section"]
    (runs,) = section["runSets"]
    sections = []
    for part in section["panelBankConfig"]["sections"]:
        panels = []
        for panel in part["panels"]:
            config = panel["config"]
            plotted = (config.get("metrics") or config.get("mediaKeys")
                       or [c["accessor"] for c in config.get("columns", [])]
                       or [config.get("targetKey")])  # fmt: skip
            panels.append({"kind": panel["viewType"], "plots": plotted})
        sections.append({"name": part["name"], "panels": panels})
    return {
        "sections": sections,
        "grouped_by": [g["name"] for g in runs["grouping"]],
        "filters": [
            f"{f['key']['name']} {f['op']} {f['value']}" for f in runs["filters"]["filters"]
        ],
        "swept": dashboard["swept"],
    }


def wandb_views(scratch: Path) -> dict:
    """A small sweep and a small Optuna search with W&B offline; the views they wrote."""
    views = {}
    for name, overrides in VIEWED_SWEEPS.items():
        sweep_dir = scratch / name
        subprocess.run(
            [sys.executable, "-m", "runner", "-m", *overrides, "trainer.max_steps=20",
             "data.subset=1000", f"data.root={scratch / 'data'}", "logger.mode=offline",
             f"hydra.sweep.dir={sweep_dir}"],
            cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        dashboard = json.loads((sweep_dir / "dashboard.json").read_text())
        views[name] = {"command": "python -m runner -m " + " ".join(overrides)} | view_of(dashboard)
    return views


def write_wandb_views(scratch: Path, out: Path) -> None:
    views = wandb_views(scratch)
    path = record.write(
        "wandb_view", views, out=out, command="python bench/results.py --only wandb_view",
        measures="the W&B view (dashboard.json) a small sweep and a small Optuna search write",
    )  # fmt: skip
    counts = [f"{name}: {len(view['sections'])} sections" for name, view in views.items()]
    print(f"{path}: {', '.join(counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=record.RESULTS)
    parser.add_argument("--only", default="main_job,reproduce,wandb_view",
                        help="main_job, reproduce, wandb_view")  # fmt: skip
    parser.add_argument("--budget", default="short", help="the reproduction's budget")
    options = parser.parse_args()
    wanted = options.only.split(",")
    with tempfile.TemporaryDirectory(prefix="runner-results-") as scratch:
        if "main_job" in wanted:
            write_main_job(Path(scratch), options.out)
        if "reproduce" in wanted:
            write_reproduction(Path(scratch), options.out, options.budget)
        if "wandb_view" in wanted:
            write_wandb_views(Path(scratch), options.out)


if __name__ == "__main__":
    main()
