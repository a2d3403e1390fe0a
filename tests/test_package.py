"""The runner as a package: its version, Hydra's shell completion, your own experiment in your
own folder (Getting started's recipe, as written there), and the wheel installed elsewhere."""

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, SMALL, cli_environment


def runner(*arguments: str, cwd: Path, python: str = sys.executable, **env: str):
    return subprocess.run(
        [python, "-m", "runner", *arguments], capture_output=True, text=True, cwd=cwd,
        env=cli_environment(**env), timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_version_names_the_package_and_the_commit_of_a_clone(tmp_path):
    result = runner("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    assert re.fullmatch(rf"runner \d+\.\d+\.\d+ \(git {commit}(-dirty)?\)\n", result.stdout)


def test_shell_completion_prints_hydras_script(tmp_path):
    result = runner("--shell-completion", "install=bash", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hydra_bash_completion" in result.stdout and "complete -o nospace" in result.stdout


def write_readme_project(root: Path) -> Path:
    """Getting started's own-experiment project, file by file from its code blocks."""
    text = (REPO / "docs" / "getting-started.md").read_text()
    blocks = re.findall(r"```(?:python|yaml)\n# (my_project/\S+)\n(.*?)```", text, re.S)
    assert {path for path, _ in blocks} == {"my_project/mine.py", "my_project/conf/model/mine.yaml"}
    for path, body in blocks:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body)
    return root / "my_project"


def test_your_own_experiment_trains_from_its_own_folder(data_root, tmp_path):
    project = write_readme_project(tmp_path)
    run_dir = project / "outputs/run"
    result = runner("-cd", "conf", "model=mine", *SMALL, f"data.root={data_root}",
                    "trainer.epochs=1", "logger=wandb", f"hydra.run.dir={run_dir}", cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["objective"]["metric"] == "val/acc"
    assert summary["metrics"]["test/acc"] > 0.2  # softmax regression learns something in an epoch
    assert (run_dir / "figures/curves.png").exists()
    assert list(run_dir.glob("wandb/offline-run-*/run-*.wandb"))  # W&B, offline for wandb sync

    wrong = runner("-cd", "conf", "model=minee", f"hydra.run.dir={project / 'x'}", cwd=project)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip() == "error: In 'config': Could not find 'model/minee'"


@pytest.mark.slow  # two more command lines of the same project; the run itself: the test above
def test_your_own_experiment_sweeps_and_resumes(data_root, tmp_path):
    project = write_readme_project(tmp_path)
    small = [*SMALL, f"data.root={data_root}", "trainer.epochs=1"]
    sweep_dir = project / "outputs/sweep"
    result = runner("-m", "-cd", "conf", "model=mine", *small, "optim=adam,sgd",
                    f"hydra.sweep.dir={sweep_dir}", cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((sweep_dir / "sweep_summary.json").read_text())["counts"] == {"completed": 2}
    resumed = runner("-m", "-cd", "conf", "model=mine", *small, "optim=adam,sgd", "resume=true",
                     f"hydra.sweep.dir={sweep_dir}", cwd=project)  # fmt: skip
    assert resumed.returncode == 0 and resumed.stdout.count("already completed") == 2


@pytest.mark.slow  # builds the wheel and installs it into a new virtual environment
def test_the_wheel_carries_the_configs_and_runs_from_any_directory(data_root, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")], check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("paper_runner-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("runner/conf/")}
    assert shipped == {
        f"runner/conf/{p.relative_to(REPO / 'conf')}" for p in (REPO / "conf").rglob("*.yaml")
    }

    # A new environment that sees this one's packages (no second torch download) but not the
    # clone: the dependencies come from this environment's site-packages, runner from the wheel.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
                    str(wheel)], check=True, timeout=300)  # fmt: skip
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in cli_environment().items() if k != "PYTHONPATH"}
    located = subprocess.run([python, "-c", "import runner; print(runner.__file__)"], cwd=elsewhere,
                             capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
    assert located.startswith(site)
    command = str(venv / "bin" / "runner")
    help_text = subprocess.run(
        [command, "--help"], cwd=elsewhere, capture_output=True, text=True, env=env
    )
    assert help_text.returncode == 0 and "experiment: adam_bias_correction" in help_text.stdout
    job = subprocess.run([command, *SMALL, f"data.root={data_root}", "trainer.max_steps=5"],
                         cwd=elsewhere, capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert job.returncode == 0, job.stderr
    (summary,) = (elsewhere / "outputs").glob("*/*/summary.json")
    assert json.loads(summary.read_text())["status"] == "completed"
    sweep = subprocess.run([command, "-m", *SMALL, f"data.root={data_root}", "trainer.max_steps=5",
                            "seed=0,1", "hydra.sweep.dir=sweep"], cwd=elsewhere,
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    report = json.loads((elsewhere / "sweep/sweep_summary.json").read_text())
    assert report["counts"] == {"completed": 2}
    version = subprocess.run(
        [command, "--version"], cwd=elsewhere, capture_output=True, text=True, env=env
    )
    assert re.fullmatch(r"runner \d+\.\d+\.\d+\n", version.stdout)  # no commit outside a clone
    near_miss = subprocess.run(
        [command, "trainer.max_epochs=1"], cwd=elsewhere, capture_output=True, text=True, env=env
    )  # the wheel carries the table of peer tools' spellings
    assert "did you mean trainer.epochs?" in near_miss.stderr, near_miss.stderr
    assert os.path.samefile(summary.parents[2], elsewhere / "outputs")
