"""What Hydra needs before it composes a config: where ``conf/`` is, the project's plugins,
the runner's own resolvers, and compositions that a Ctrl-C does not break."""

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from runner.data.canvas import distorted_size
from runner.platform.signals import interrupts_deferred

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


COMPOSING = ("load_configuration", "load_sweep_config")  # Hydra's config loader's methods


def composed_whole(compose: Callable[..., Any]) -> Callable[..., Any]:
    """``compose``, with Ctrl-C and SIGTERM honoured once it has returned."""

    @functools.wraps(compose)
    def compose_whole(*args: Any, **kwargs: Any) -> Any:
        with interrupts_deferred():
            return compose(*args, **kwargs)

    compose_whole.composes_whole = True  # type: ignore[attr-defined]
    return compose_whole


def compose_whole() -> None:
    """Hydra composes each config whole before an interruption is honoured.

    Composing is OmegaConf's work, and a KeyboardInterrupt raised in its midst can become an
    error of OmegaConf's own (a ``finally`` that reads what the interruption left unset, then
    re-raised as a config error): a traceback and exit status 1 instead of a clean stop. In
    a sweep, Hydra composes each job's config before it starts the job, and that is where a
    Ctrl-C between jobs lands. A composition takes a fraction of a second, and the
    interruption waits for no more than that.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    for name in COMPOSING:
        method = getattr(ConfigLoaderImpl, name)
        if not getattr(method, "composes_whole", False):
            setattr(ConfigLoaderImpl, name, composed_whole(method))


def prepare_hydra() -> None:
    expose_plugins()
    register_resolvers()
    register_schema()
    compose_whole()
