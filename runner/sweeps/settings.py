"""The ``sweep`` settings, checked by every job of a sweep before it runs: a limit of failures
and figures that cannot be drawn are found before the sweep's jobs run rather than after."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.platform.checks import check_choice, check_int
from runner.platform.errors import ConfigError
from runner.sweeps.figures import figure_specs

MISSING = object()
JOB_FIGURES = ("end", "job")  # the choices of sweep.job_figures


def check_sweep_settings(cfg: DictConfig) -> None:
    """``sweep.max_failures`` and ``sweep.figures``; :class:`ConfigError` for the first that
    is not usable."""
    check_int("sweep.max_failures", setting(cfg, "sweep.max_failures"), 1, allow_none=True)
    entries = setting(cfg, "sweep.figures")
    if entries is not None and not isinstance(entries, dict):
        raise ConfigError(
            f"sweep.figures must be a mapping of figure names to figures; got {entries!r}"
        )
    figure_specs(entries)
    check_choice("sweep.job_figures", setting(cfg, "sweep.job_figures"), JOB_FIGURES)


def setting(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=MISSING)
    if value is MISSING:
        raise ConfigError(f"{key} is missing from the config")
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
