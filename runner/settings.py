"""Checks of the runner's own settings, before anything is built or written.

Hydra composes whatever the user typed; these checks turn a wrong type or a value out of
range into one line that names the setting and what it may be.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.data.distortions import DISTORTIONS
from runner.device import DEVICE_TYPES
from runner.errors import ConfigError
from runner.wandb_run import LOGGER_MODES

MISSING = object()


def _value(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=MISSING)
    if value is MISSING:
        raise ConfigError(f"{key} is missing from the config")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_int(cfg: DictConfig, key: str, minimum: int, allow_none: bool = False) -> None:
    value = _value(cfg, key)
    if value is None and allow_none:
        return
    if not _is_int(value) or value < minimum:
        what = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ConfigError(f"{key} must be {what}; got {value!r}")


def require_choice(cfg: DictConfig, key: str, choices: tuple[str, ...]) -> None:
    value = _value(cfg, key)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {value!r}")


def require_bool(cfg: DictConfig, key: str) -> None:
    value = _value(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false; got {value!r}")


def require_positive_number(cfg: DictConfig, key: str) -> None:
    value = _value(cfg, key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{key} must be a number > 0; got {value!r}")


def validate(cfg: DictConfig) -> dict[str, Any]:
    """The config resolved to plain containers, once every runner setting is usable.

    Raises :class:`ConfigError` for the first setting that is not.
    """
    require_int(cfg, "seed", minimum=0)
    require_bool(cfg, "resume")
    metric = _value(cfg, "objective.metric")
    if not isinstance(metric, str) or metric.split("/")[0] not in ("train", "val", "test"):
        raise ConfigError(
            f"objective.metric must name a train/, val/ or test/ metric, such as val/acc; got {metric!r}"
        )
    require_choice(cfg, "objective.mode", ("max", "min"))
    require_int(cfg, "trainer.epochs", minimum=1)
    require_int(cfg, "trainer.max_steps", minimum=1, allow_none=True)
    require_int(cfg, "trainer.eval_every", minimum=1)
    require_int(cfg, "trainer.log_every", minimum=1)
    require_int(cfg, "data.batch_size", minimum=1)
    require_int(cfg, "data.eval_batch_size", minimum=1)
    require_int(cfg, "data.val_size", minimum=1)
    require_choice(cfg, "data.distortion", DISTORTIONS)
    require_int(cfg, "data.distortion_seed", minimum=0)
    require_bool(cfg, "data.resample_each_epoch")
    require_choice(cfg, "device.type", DEVICE_TYPES)
    require_bool(cfg, "device.deterministic")
    require_int(cfg, "device.threads", minimum=1, allow_none=True)
    require_int(cfg, "sweep.max_failures", minimum=1, allow_none=True)
    require_choice(cfg, "logger.mode", LOGGER_MODES)
    require_positive_number(cfg, "optim.lr")
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception as error:  # an interpolation that does not resolve
        raise ConfigError(f"the config does not resolve: {error}".splitlines()[0]) from None
