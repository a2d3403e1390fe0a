"""What Hydra needs before it composes a config: where ``conf/`` is, the project's plugins,
and the runner's own resolvers."""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from runner.data.canvas import distorted_size

RUNNER_DIR = Path(__file__).resolve().parent.parent
CONF_DIR = (RUNNER_DIR / "conf").resolve()  # conf/, or its copy in a wheel
PLUGINS_DIR = RUNNER_DIR / "plugins"
NOT_GROUPS = ("hydra", "claims")
"""Folders of conf/ that are no config group of the runner's: Hydra's own settings, and the
papers' claims that ``python -m runner.reproduce`` reads."""


def expose_plugins() -> None:
    """Let Hydra find the project's plugins (``runner/plugins/hydra_plugins/``) in a source
    checkout.

    Hydra lists the folders of the ``hydra_plugins`` namespace to find plugins. An installed
    wheel puts ours in site-packages beside the others; an editable install only maps them
    through an import hook, which can import them but cannot be listed, so the folder that
    holds them joins the import path.
    """
    if PLUGINS_DIR.is_dir() and str(PLUGINS_DIR) not in sys.path:
        sys.path.append(str(PLUGINS_DIR))


def register_resolvers() -> None:
    """``${distorted_size:...}`` in ``conf/data/``, before any config is composed."""
    OmegaConf.register_new_resolver("distorted_size", distorted_size, replace=True)


def register_schema() -> None:
    """The schema of the runner's sections in Hydra's ConfigStore, where conf/config.yaml's
    defaults list finds it."""
    from hydra.core.config_store import ConfigStore

    from runner.run.schema import SCHEMA_NAME, RunnerConfig

    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunnerConfig)


def prepare_hydra() -> None:
    expose_plugins()
    register_resolvers()
    register_schema()
