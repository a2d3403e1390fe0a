"""The ``sweep`` settings, checked by every job of a sweep before it runs: a limit of failures
and figures that cannot be drawn are found before the sweep's jobs run rather than after."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.platform.checks import check_choice, check_int
from runner.platform.errors import ConfigError
from runner.sweeps.figures import figure_specs

JOB_FIGURES = ("end", "job")  # the choices of sweep.job_figures


def check_sweep_settings(cfg: DictConfig) -> None:
    """``sweep.max_failures``, ``sweep.figures`` and ``sweep.job_figures`` (their types are the
    schema's); :class:`ConfigError` for the first that is not usable."""
    sweep: dict[str, Any] = OmegaConf.to_container(cfg.sweep, resolve=True)  # type: ignore[assignment]
    check_int("sweep.max_failures", sweep["max_failures"], 1, allow_none=True)
    entries = sweep["figures"]
    if entries is not None and not isinstance(entries, dict):
        raise ConfigError(
            f"sweep.figures must be a mapping of figure names to figures; got {entries!r}"
        )
    figure_specs(entries)
    check_choice("sweep.job_figures", sweep["job_figures"], JOB_FIGURES)
