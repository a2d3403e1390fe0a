"""Checks of the runner's own settings, before anything is built or written.

Hydra composes whatever the user typed; these checks turn a wrong type or a value out of
range into one line that names the setting and what it may be. The ``check_*`` functions
check one value under its key's name; :func:`validate` checks the whole config.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.data.canvas import DISTORTIONS
from runner.device import DEVICE_TYPES
from runner.errors import ConfigError
from runner.wandb_run import LOGGER_MODES

MISSING = object()
PRECISIONS = ("32", "bf16", "16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(key: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or value < minimum:
        what = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ConfigError(f"{key} must be {what}; got {value!r}")


def check_number(key: str, value: Any, positive: bool, allow_none: bool = False) -> None:
    """A number > 0 (``positive``) or >= 0."""
    if value is None and allow_none:
        return
    if not _is_number(value) or not (value > 0 if positive else value >= 0):
        what = "a number " + ("> 0" if positive else ">= 0") + (" or null" if allow_none else "")
        raise ConfigError(f"{key} must be {what}; got {value!r}")


def check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {value!r}")


def check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false; got {value!r}")


def _value(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=MISSING)
    if value is MISSING:
        raise ConfigError(f"{key} is missing from the config")
    return value


def check_objective(cfg: DictConfig) -> None:
    metric = _value(cfg, "objective.metric")
    if not isinstance(metric, str) or metric.split("/")[0] not in ("train", "val", "test"):
        raise ConfigError(
            f"objective.metric must name a train/, val/ or test/ metric, such as val/acc; got {metric!r}"
        )
    check_choice("objective.mode", _value(cfg, "objective.mode"), ("max", "min"))


def check_trainer(cfg: DictConfig) -> None:
    for key, minimum, allow_none in (
        ("trainer.epochs", 1, False),
        ("trainer.max_steps", 1, True),
        ("trainer.eval_every", 1, False),
        ("trainer.log_every", 1, False),
        ("trainer.checkpoint_every", 1, False),
        ("trainer.accumulate", 1, False),
        ("trainer.early_stop.patience", 1, True),
    ):
        check_int(key, _value(cfg, key), minimum, allow_none)
    precision = _value(cfg, "trainer.precision")
    if precision not in (32, 16, *PRECISIONS):
        raise ConfigError(
            f"trainer.precision must be one of {', '.join(PRECISIONS)}; got {precision!r}"
        )
    check_bool("trainer.compile", _value(cfg, "trainer.compile"))
    check_choice("trainer.compile_mode", _value(cfg, "trainer.compile_mode"), COMPILE_MODES)
    check_number("trainer.grad_clip", _value(cfg, "trainer.grad_clip"), True, allow_none=True)
    check_number("trainer.early_stop.min_delta", _value(cfg, "trainer.early_stop.min_delta"), False)
    check_bool("trainer.profile", _value(cfg, "trainer.profile"))


def check_data_and_device(cfg: DictConfig) -> None:
    for key, minimum, allow_none in (
        ("data.batch_size", 1, False),
        ("data.eval_batch_size", 1, False),
        ("data.val_size", 1, False),
        ("data.distortion_seed", 0, False),
        ("data.subset", 1, True),
        ("device.threads", 1, True),
        ("device.processes", 1, False),
    ):
        check_int(key, _value(cfg, key), minimum, allow_none)
    check_choice("data.distortion", _value(cfg, "data.distortion"), DISTORTIONS)
    check_bool("data.resample_each_epoch", _value(cfg, "data.resample_each_epoch"))
    check_choice("device.type", _value(cfg, "device.type"), DEVICE_TYPES)
    check_bool("device.deterministic", _value(cfg, "device.deterministic"))
    port = _value(cfg, "device.port")
    check_int("device.port", port, 1, allow_none=True)
    if port is not None and port > 65535:
        raise ConfigError(f"device.port must be a port number up to 65535, or null; got {port}")


def check_sweep_figures(cfg: DictConfig) -> None:
    """``sweep.figures``, checked by every job so that a figure that cannot be drawn is found
    before the sweep's jobs run rather than after."""
    from runner.sweeps.figures import figure_specs

    entries = OmegaConf.select(cfg, "sweep.figures")
    if entries is not None and not OmegaConf.is_dict(entries):
        raise ConfigError(
            f"sweep.figures must be a mapping of figure names to figures; got {entries!r}"
        )
    figure_specs(OmegaConf.to_container(entries, resolve=True) if entries is not None else None)


def validate(cfg: DictConfig) -> dict[str, Any]:
    """The config resolved to plain containers, once every runner setting is usable.

    Raises :class:`ConfigError` for the first setting that is not.
    """
    check_int("seed", _value(cfg, "seed"), minimum=0)
    check_bool("resume", _value(cfg, "resume"))
    check_objective(cfg)
    check_trainer(cfg)
    check_data_and_device(cfg)
    check_int("sweep.max_failures", _value(cfg, "sweep.max_failures"), 1, allow_none=True)
    check_sweep_figures(cfg)
    check_choice("logger.mode", _value(cfg, "logger.mode"), LOGGER_MODES)
    check_number("logger.timeout_s", _value(cfg, "logger.timeout_s"), positive=True)
    log_checkpoints = _value(cfg, "logger.log_checkpoints")
    if log_checkpoints != "auto" and not isinstance(log_checkpoints, bool):
        raise ConfigError(
            f"logger.log_checkpoints must be one of auto, true, false; got {log_checkpoints!r}"
        )
    check_number("optim.lr", _value(cfg, "optim.lr"), positive=True)
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception as error:  # an interpolation that does not resolve
        raise ConfigError(f"the config does not resolve: {error}".splitlines()[0]) from None
    config["trainer"]["precision"] = str(config["trainer"]["precision"])  # 32 and 16 read as ints
    return config  # type: ignore[return-value]
