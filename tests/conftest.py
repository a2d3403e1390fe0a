"""Shared test helpers: the real config, shrunk to seconds; the real CLI in a subprocess."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from runner.train import CONF_DIR

REPO = Path(__file__).resolve().parent.parent

# A small version of the main job: the same config with less data and fewer steps.
SMALL_DATA = [
    "data.dataset.train_size=2500",
    "data.dataset.test_size=500",
    "data.val_size=500",
    "data.eval_batch_size=250",
]
SMALL = [
    *SMALL_DATA,
    "trainer.epochs=2",
    "trainer.log_every=10",
    "optim=adam",
    "device=cpu",
    "logger=none",
]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dataset cache for the whole session: each digits size is generated once."""
    return tmp_path_factory.mktemp("data")


def compose_config(*overrides: str) -> DictConfig:
    """The real config from conf/, composed with ``overrides`` as on the command line."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture
def make_config(data_root: Path):
    """Compose the real config with the small overrides, then the test's own."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(*SMALL, f"data.root={data_root}", *overrides)

    return make


def run_cli(
    *arguments: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m runner ARGUMENTS`` in a fresh interpreter, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env=cli_environment(),
        stdin=subprocess.DEVNULL,
    )


def cli_environment(**variables: str) -> dict[str, str]:
    """This environment for a command-line run: W&B silent and offline unless ``variables``
    (``WANDB_API_KEY``, ``WANDB_BASE_URL``, ...) say otherwise, the repository importable."""
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(REPO),
           "WANDB_DATA_DIR": str(Path(tempfile.gettempdir()) / "runner-tests-wandb")}  # fmt: skip
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        env.pop(name, None)
    return {**env, **variables}


@pytest.fixture
def cli(data_root: Path):
    """Run the CLI on the small job in a run directory of the test's choosing."""

    def call(run_dir: Path, *overrides: str, small: bool = True) -> subprocess.CompletedProcess:
        base = [*SMALL, f"data.root={data_root}"] if small else []
        flags = [o for o in overrides if o.startswith("-")]  # Hydra takes flags before overrides
        rest = [o for o in overrides if not o.startswith("-")]
        return run_cli(*flags, *base, f"hydra.run.dir={run_dir}", *rest)

    return call
