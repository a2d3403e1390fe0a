"""The documentation: the site builds strictly, the README stays short and quotes no number
that no results file holds, and the README's commands run as written."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_environment

RESULTS = REPO / "docs" / "results"
MEASUREMENT = re.compile(r"(?<![\w.\-])(\d+(?:\.\d+)?)\s?(%|s\b|min\b|ms\b|×(?!\s?\d)|x\b)")
"""A number with the unit of a measurement: a time, a percentage, a ratio (not a size such
as 28×28, nor the 32 of CRC-32s)."""


def test_the_site_builds_strictly(tmp_path):
    """``make docs``: a broken link, a page left out of the nav, a missing anchor, an API
    page that does not render or a number a results file lacks fails the build."""
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the docs' packages are not installed (pip install -e '.[docs]')")
    env = cli_environment(NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    built = subprocess.run(
        [Path(sys.executable).parent / "mkdocs", "build", "--strict", "-d", tmp_path / "site"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "configuration" / "index.html").read_text()
    assert "trainer.epochs" in reference and "model.use_stn" in reference


def test_every_key_in_conf_has_a_meaning_in_the_reference():
    """Each key of conf/ carries a comment, or is one the reference can describe: a key a file
    only sets (its definition's comment), Hydra's ``_target_``/``_partial_``, an
    interpolation, a choice in ``defaults``, a field of a sweep's figure or table."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "config_reference", REPO / "docs" / "config_reference.py"
    )
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    assert reference.undescribed(REPO / "conf") == []
    assert len(list(reference.described_rows(REPO / "conf"))) > 500  # every file was read


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def result_values() -> set[str]:
    """Every number in docs/results/*.json, as the docs may quote it."""
    values: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            values.update({str(node), f"{node:g}", f"{node * 100:.1f}", f"{node * 100:.2f}"})

    for path in RESULTS.glob("*.json"):
        walk(json.loads(path.read_text()))
    return values


NOT_MEASURED = {
    "contributing.md": {"99%"},  # a target: the main job's time to 99% test accuracy
    "papers/gan.md": {"3×", "2%"},  # a test's threshold and its tolerance
    "papers/stn.md": {"2%"},  # 3000 of the paper's 150k iterations
    "reproduce.md": {"95%"},  # the confidence interval's level
    "sweeps.md": {"95%", "10 s", "60 s", "10%"},  # the interval, heartbeat defaults, PED-ANOVA
    "slurm.md": {"0.8 ×", "10 min", "5 s", "120 s"},  # submitit's rule, SLURM's settings
    "wandb.md": {"30 s"},  # logger.timeout_s's default
}
"""Numbers with a unit that are settings, targets or levels, not measurements."""


def quoted_measurements(page: Path) -> list[str]:
    """The numbers with a unit in a page's prose: not in code, not read by a macro."""
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # commands, not claims
    prose = re.sub(r"\{\{.*?\}\}", "", prose, flags=re.DOTALL)  # read from a results file
    prose = re.sub(r"`[^`]*`", "", prose)  # settings, file names, example output
    return [m.group(0) for m in MEASUREMENT.finditer(prose)]


def test_no_page_quotes_a_measurement_by_hand():
    """A measured figure is read from docs/results/ (``make results``, the benchmarks), never
    typed: neither the README nor any page of the site quotes one by hand."""
    known = result_values()
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    assert len(pages) > 20
    for page in pages:
        allowed = (
            NOT_MEASURED.get(page.relative_to(REPO / "docs").as_posix(), set())
            if page.is_relative_to(REPO / "docs")
            else set()
        )
        typed = [
            text for text in quoted_measurements(page)
            if text not in allowed and MEASUREMENT.match(text).group(1) not in known
        ]  # fmt: skip
        assert not typed, f"{page.name} quotes {typed}: put them in a results file"


def readme_commands(page: Path = REPO / "README.md") -> list[str]:
    """The ``python -m runner`` lines of a page's code blocks, without their comments (those
    of a user's own project, which run in ``tests/test_package.py``, left out)."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("python -m runner") and " -cd " not in line]


def as_a_user_trying_it(command: str, place: Path, data_root: Path) -> list[str] | None:
    """The command with what makes it quick (``debug=fast``, two trials) and where it writes,
    as a user trying it would add; None for one this machine cannot run (CUDA)."""
    words = shlex.split(command)[3:]
    if "device=cuda" in words:
        import torch

        if not torch.cuda.is_available():
            return None
    if words and words[0] == "outputs/<date>/<time>-sweep":
        return None  # runner.plot of a sweep: run below, on the sweep the README made
    if command.startswith("python -m runner.reproduce"):
        return [*words, f"out={place}", f"data.root={data_root}", "logger=none"]
    sweep = "-m" in words
    quick = ["debug=fast", f"data.root={data_root}", "logger=none"]
    if any(w.startswith("search=") for w in words):
        words = [w for w in words if not w.startswith("hydra.sweeper.n_trials=")]
        quick.append("hydra.sweeper.n_trials=2")
    place_key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    return [*words, *quick, f"{place_key}={place}"]


@pytest.mark.slow
def test_the_readmes_commands_run_as_written(tmp_path, data_root):
    commands = readme_commands()
    assert len(commands) >= 8, commands
    swept = None
    for number, command in enumerate(commands):
        place = tmp_path / str(number)
        arguments = as_a_user_trying_it(command, place, data_root)
        if arguments is None:
            continue
        module = command.split()[2]
        done = subprocess.run(
            [sys.executable, "-m", module, *arguments], cwd=tmp_path, env=cli_environment(),
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        if "-m" in arguments and "optim.lr=1e-3,1e-2" in command:
            swept = place
    assert swept is not None
    plotted = subprocess.run(
        [sys.executable, "-m", "runner.plot", swept, "--metric", "val/acc", "--out", tmp_path / "c.png"],
        cwd=tmp_path, env=cli_environment(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "c.png").stat().st_size > 0
    assert os.listdir(swept)


@pytest.mark.slow
def test_the_python_api_pages_examples_run_as_written(tmp_path):
    """Each Python block of docs/api.md, run in a fresh interpreter in an empty directory
    (the first trains one epoch of the main job, writing under it)."""
    blocks = re.findall(
        r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), flags=re.DOTALL
    )
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        done = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, env=cli_environment(),
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"block {number}:\n{block}\n{done.stderr[-3000:]}"
    assert (tmp_path / "outputs" / "notebook-run" / "summary.json").exists()


@pytest.mark.slow
def test_getting_starteds_commands_run_as_written(tmp_path, data_root):
    """The tutorial's command lines, as a user trying them would (``debug=fast``); the
    commands that read a run or a sweep read the ones made before them."""
    commands = readme_commands(REPO / "docs" / "getting-started.md")
    assert len(commands) >= 12, commands
    made = {}
    for number, command in enumerate(commands):
        place = tmp_path / str(number)
        if "outputs/<date>/<time>" in command:
            kind = "sweep" if "<time>-sweep" in command else "run"
            done = subprocess.run(
                [sys.executable, *command.replace(f"outputs/<date>/<time>{'-sweep' if kind == 'sweep' else ''}",
                                                  str(made[kind])).split()[1:]],
                cwd=tmp_path, env=cli_environment(), capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
            continue
        arguments = as_a_user_trying_it(command, place, data_root)
        if arguments is None:
            continue
        done = subprocess.run(
            [sys.executable, "-m", command.split()[2], *arguments], cwd=tmp_path,
            env=cli_environment(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        if (place / "summary.json").exists():
            made.setdefault("run", place)
        if (place / "sweep_summary.json").exists():
            made.setdefault("sweep", place)
