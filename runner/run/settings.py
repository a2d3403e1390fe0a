"""A run's settings, checked once where the run is prepared: the config Hydra composed becomes
typed settings, one per section the runner reads (``trainer``, ``data``, ``device``,
``logger``, ``objective``), and the nodes the run builds its objects from.

Each section's checks sit beside its settings (``runner.training.settings`` and friends);
this module only says which section is which, in the order a user reads the config, and
turns what Hydra cannot resolve into one line. Below the run layer nothing sees the config:
the loop, the checkpointer and the W&B run take these settings or plain values.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from runner.data.settings import DataSettings
from runner.platform.checks import check_bool, check_int, check_number
from runner.platform.errors import ConfigError, first_line
from runner.platform.settings import DeviceSettings
from runner.records.settings import LoggerSettings
from runner.training.objective import Objective, objective_setting
from runner.training.settings import TrainerSettings

Settings = TypeVar("Settings")


@dataclass(frozen=True)
class RunSettings:
    """Everything the runner itself reads of a run's config, checked.

    ``config`` is the whole config, resolved, as it is recorded (in checkpoints, in W&B, in
    ``config_tree.txt``) and handed to the processes of a run; ``cfg`` is the composed config
    that the model, optimizer, schedule and dataset are built from (their ``_target_``s).
    """

    seed: int
    resume: bool
    objective: Objective
    trainer: TrainerSettings
    data: DataSettings
    device: DeviceSettings
    logger: LoggerSettings
    choices: dict[str, str]
    config: dict[str, Any]
    cfg: DictConfig
    draws_figures: bool = True  # False: a sweep's job, whose figures the sweep draws at its end


def settings_of(cfg: DictConfig) -> RunSettings:
    """The run's settings; :class:`ConfigError` names the first setting that is not usable."""
    config = resolved(cfg)
    settings = settings_from(config, cfg)
    config["trainer"]["precision"] = settings.trainer.precision  # recorded as the run reads it
    return settings


def settings_from(config: dict[str, Any], cfg: Any = None) -> RunSettings:
    """The settings of a resolved ``config`` (``cfg``: the composed config it came from, if
    any), checked; it is not changed. A sweep checks its jobs' values with this before any
    job runs."""
    check_int("seed", value_of(config, "seed"), minimum=0)
    check_bool("resume", value_of(config, "resume"))
    objective = value_of(config, "objective")
    settings = RunSettings(
        seed=config["seed"],
        resume=config["resume"],
        objective=objective_setting(value_of(objective, "metric", "objective."),
                                    value_of(objective, "mode", "objective.")),
        trainer=section(TrainerSettings, value_of(config, "trainer"), "trainer"),
        data=section(DataSettings, value_of(config, "data"), "data"),
        device=section(DeviceSettings, value_of(config, "device"), "device"),
        logger=section(LoggerSettings, value_of(config, "logger"), "logger"),
        choices=dict(config.get("choices") or {}),
        config=config,
        cfg=cfg,
    )  # fmt: skip
    check_number("optim.lr", value_of(value_of(config, "optim"), "lr", "optim."), positive=True)
    return settings


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain containers, every interpolation resolved."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception as error:  # an interpolation that does not resolve
        raise ConfigError(f"the config does not resolve: {first_line(error)}") from None


MISSING = object()


def value_of(node: Any, key: str, prefix: str = "") -> Any:
    """``node[key]``; a :class:`ConfigError` naming ``prefix + key`` when it is not there."""
    value = node.get(key, MISSING) if isinstance(node, dict) else MISSING
    if value is MISSING:
        raise ConfigError(f"{prefix}{key} is missing from the config")
    return value


def section(settings_type: type[Settings], node: Any, path: str) -> Settings:
    """The settings of the config's section ``node`` at ``path``, each of their fields
    required, and checked as they are built."""
    if not isinstance(node, dict):
        raise ConfigError(f"{path} must be a section of settings; got {node!r}")
    values = {}
    for field in dataclasses.fields(settings_type):  # type: ignore[arg-type]
        value = value_of(node, field.name, f"{path}.")
        if dataclasses.is_dataclass(field.type):
            value = section(field.type, value, f"{path}.{field.name}")  # type: ignore[arg-type]
        values[field.name] = value
    return settings_type(**values)
