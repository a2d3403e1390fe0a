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
from runner.platform.checks import check_int, check_number
from runner.platform.errors import ConfigError, first_line
from runner.platform.settings import DeviceSettings
from runner.records.settings import LoggerSettings
from runner.run.schema import schema_problem
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
    job runs.

    The config's keys and types are the schema's (:mod:`runner.run.schema`), checked as Hydra
    composed it; what is checked here is what a type cannot say.
    """
    check_int("seed", config["seed"], minimum=0)
    objective = config["objective"]
    settings = RunSettings(
        seed=config["seed"],
        resume=config["resume"],
        objective=objective_setting(objective["metric"], objective["mode"]),
        trainer=section(TrainerSettings, config["trainer"]),
        data=section(DataSettings, config["data"]),
        device=section(DeviceSettings, config["device"]),
        logger=section(LoggerSettings, config["logger"]),
        choices=dict(config.get("choices") or {}),
        config=config,
        cfg=cfg,
    )
    check_number("optim.lr", learning_rate(config["optim"]), positive=True)
    return settings


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain containers, every interpolation resolved."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except Exception as error:  # an interpolation that does not resolve, a value left missing
        problem = schema_problem(error)
        raise ConfigError(problem or f"the config does not resolve: {first_line(error)}") from None


def learning_rate(optim: Any) -> Any:
    """``optim.lr``: every optimizer option has one, though the schema leaves ``optim`` open."""
    if not isinstance(optim, dict) or "lr" not in optim:
        raise ConfigError("optim.lr is missing from the config")
    return optim["lr"]


def section(settings_type: type[Settings], node: dict[str, Any]) -> Settings:
    """The settings of the config's section ``node``, checked as they are built; a section
    inside it (``trainer.early_stop``) becomes its own settings."""
    values = {}
    for field in dataclasses.fields(settings_type):  # type: ignore[arg-type]
        value = node[field.name]
        if dataclasses.is_dataclass(field.type):
            value = section(field.type, value)  # type: ignore[arg-type]
        values[field.name] = value
    return settings_type(**values)
