"""The schema of the runner's config: the types, defaults and keys of the sections the runner
itself reads, as structured configs (dataclasses) that Hydra composes ``conf/config.yaml``
onto (its defaults list names this schema first).

OmegaConf then checks, as Hydra composes, what a type can say: that ``trainer.epochs`` is an
integer, ``trainer.compile`` true or false, ``trainer.precision`` one of the spellings it
turns into a string, that a key exists in its section and no value is left missing. The
settings classes hold what a type cannot say (ranges, choices, settings that must agree)
and run it when a run reads its settings (:mod:`runner.run.settings`).

``model``, ``optim``, ``schedule`` and ``data.dataset`` are the arguments of constructors:
their options decide their keys, so the schema leaves them open.
"""

import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import (
    MISSING,
    BooleanNode,
    DictConfig,
    FloatNode,
    IntegerNode,
    OmegaConf,
    StringNode,
    ValueNode,
)
from omegaconf.errors import (
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from runner.data.settings import DataSettings
from runner.platform.errors import ConfigError
from runner.platform.settings import DeviceSettings
from runner.records.settings import LoggerSettings
from runner.training.settings import TrainerSettings

SCHEMA_NAME = "runner_schema"  # the name conf/config.yaml's defaults list gives it
OPEN_SECTIONS = ("model", "optim", "schedule", "data.dataset")


@dataclass
class DataSection(DataSettings):
    """``data``: the settings every data option shares, and the option's own dataset."""

    dataset: Any = None


@dataclass
class ObjectiveSection:
    """``objective``: the metric a run is judged by, set by each model option."""

    metric: str = MISSING
    mode: str = MISSING


@dataclass
class SweepSection:
    """``sweep``: what a sweep (``-m``) does around its jobs (conf/config.yaml says what each
    key does); its jobs check the values (:mod:`runner.sweeps.settings`)."""

    max_failures: int | None = None
    table: Any = None
    figures: Any = None
    job_figures: str = "end"


@dataclass
class RunnerConfig:
    """The whole config: the runner's own sections typed, the constructors' sections open."""

    seed: int = 0
    resume: bool = False
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    data: DataSection = field(default_factory=DataSection)
    device: DeviceSettings = field(default_factory=DeviceSettings)
    logger: LoggerSettings = field(default_factory=LoggerSettings)
    sweep: SweepSection = field(default_factory=SweepSection)
    model: Any = None
    optim: Any = None
    schedule: Any = None


@functools.cache
def schema() -> DictConfig:
    """The schema as a config, to check values against (read-only: copy it to change it)."""
    node = OmegaConf.structured(RunnerConfig)
    OmegaConf.set_readonly(node, True)
    return node


TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
GIVEN_VALUE = re.compile(
    r"^Value '(?P<value>.*)' (of type '[\w.]+' could not be|is not a valid)", re.S
)
NULL_GIVEN = re.compile(
    r"^(Incompatible value 'None' for non-optional field|field '.*' is not Optional)", re.S
)


def field_type(key: str) -> Any:
    """The declared type of the schema's ``key`` (dotted); None where the schema does not
    type it (an open section, a key it lacks)."""
    owner: Any = RunnerConfig
    declared: Any = None
    for name in key.split("."):
        if not dataclasses.is_dataclass(owner):
            return None
        declared = typing.get_type_hints(owner).get(name)
        owner = declared
    return declared


def kinds_of(declared: Any) -> tuple[list[Any], bool]:
    """The types a ``declared`` type allows besides None, and whether it allows None
    (``int | None`` → ``[int], True``)."""
    arguments = typing.get_args(declared)
    kinds = [kind for kind in arguments if kind is not type(None)] or [declared]
    return kinds, type(None) in arguments


def allowed_by(declared: Any) -> str:
    """What a value of the ``declared`` type may be, in words (``an integer or null``)."""
    if typing.get_origin(declared) is list:
        return "a list"
    if dataclasses.is_dataclass(declared):
        keys = ", ".join(f.name for f in dataclasses.fields(declared))
        return f"a section of settings ({keys})"
    kinds, optional = kinds_of(declared)
    words = " or ".join(
        TYPE_WORDS.get(kind, getattr(kind, "__name__", str(kind))) for kind in kinds
    )
    return words + (" or null" if optional else "")


def schema_problem(error: BaseException) -> str | None:
    """One line for an error of OmegaConf's checks against the schema (found in ``error`` or
    what caused it): the setting, what it may be and what it was given; None for any other
    error. Hydra wraps them in its own (``Error merging override trainer.epochs=abc``)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__ or cause.__context__
    if cause is None or not getattr(cause, "full_key", None):
        return None
    key = str(cause.full_key)
    if isinstance(cause, MissingMandatoryValue):
        return f"{key} is missing from the config"
    if isinstance(cause, ConfigKeyError):
        section, _, _ = key.rpartition(".")
        known = OmegaConf.select(schema(), section) if section else schema()
        return f"{key} is not a setting; {section or 'the config'} has: {', '.join(known)}"
    if not isinstance(cause, ValidationError) or field_type(key) is None:
        return None
    given = GIVEN_VALUE.match(str(cause))
    got = f"; got {given['value']!r}" if given else ""
    if NULL_GIVEN.match(str(cause)):
        got = "; got null"
    return f"{key} must be {allowed_by(field_type(key))}{got}"


VALUE_NODES = {int: IntegerNode, float: FloatNode, bool: BooleanNode, str: StringNode}


@functools.cache
def value_node(key: str) -> ValueNode | None:
    """A node of the type the schema declares at ``key``, to check values with; None where it
    declares none that OmegaConf converts (an open section, ``Any``, a list)."""
    kinds, optional = kinds_of(field_type(key))
    if len(kinds) != 1 or kinds[0] not in VALUE_NODES:
        return None
    return VALUE_NODES[kinds[0]](value=MISSING, is_optional=optional)


def typed_value(key: str, value: Any) -> Any:
    """``value`` as the schema holds it at ``key`` (``trainer.precision=16`` is the string
    ``"16"``), converted as OmegaConf converts it when Hydra composes a job, without composing
    one; :class:`ConfigError` when the schema refuses it. Keys it leaves open take any."""
    node = value_node(key)
    if node is None:
        return value
    try:
        return node.validate_and_convert(value)
    except ValidationError:
        raise ConfigError(f"{key} must be {allowed_by(field_type(key))}; got {value!r}") from None
