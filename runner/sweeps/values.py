"""Every value a sweep will give, checked before its first job starts.

Hydra composes a job's config only when the job is launched, so a bad value in the last of a
thousand jobs would be found hours in. Before any job starts, this check takes each swept
key's values (a list, ``range()``, ``choice()``, the bounds of an Optuna ``interval()``) and
checks each distinct value once against the config's schema and the runner's settings, then each job's combination
of values, on the config Hydra composed once per combination of swept config-group options
(``model=stn,gan``): the values are set into a copy of it, not composed again job by job.

A bad value fails the sweep in one line that names the value, its key and its position; no
job directory is made. Model options reach their constructors only when a job builds them,
and are checked there.
"""

import itertools
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer, ValueType
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, ConfigError
from runner.run.schema import schema_problem, typed_value

NOT_CHECKED = ("hydra.", "hydra/")  # Hydra's own settings: Hydra checks them


@dataclass(frozen=True)
class SweptKey:
    """A key the sweep varies, the values it takes in job order, and how it was written."""

    key: str
    values: tuple[Any, ...]
    written: str
    group: bool  # a config group (``model=stn,gan``), not a setting

    def position(self, index: int) -> str:
        return f"value {index + 1} of {len(self.values)} of {self.written}"


def swept_keys(
    overrides: Sequence[str], groups: set[str], search: dict[str, str]
) -> list[SweptKey]:
    """The swept keys of a sweep's ``overrides`` and of an Optuna ``search`` space (the
    ``hydra.sweeper.params`` a ``search=`` option sets); ``groups``: the config groups."""
    parser = OverridesParser.create()
    written = [*overrides, *(f"{key}={value}" for key, value in search.items())]
    found = {}
    for override in parser.parse_overrides(written):
        key = override.key_or_group
        if override.is_sweep_override() and not key.startswith(NOT_CHECKED):
            found[key] = SweptKey(key, values_of(override), override.input_line, key in groups)
    return list(found.values())


def values_of(override: Override) -> tuple[Any, ...]:
    """The values a sweep override gives, in order; an interval's two bounds."""
    if override.value_type == ValueType.INTERVAL_SWEEP:
        interval = override.value()
        return (interval.start, interval.end)
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        return ()  # the options a glob picks exist: Hydra found them
    return tuple(override.sweep_iterator(transformer=Transformer.identity))


def with_value(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any] | None:
    """``config`` with ``dotted`` set to ``value``, copying only the sections on its path;
    None when the path is not a section of settings here."""
    head, _, rest = dotted.partition(".")
    copied = dict(config)
    if not rest:
        copied[head] = value
        return copied
    inner = config.get(head)
    if not isinstance(inner, dict):
        return None
    nested = with_value(inner, rest, value)
    if nested is None:
        return None
    copied[head] = nested
    return copied


def problem_with(config: dict[str, Any] | None) -> str | None:
    """What the runner would refuse in ``config`` before training, or None: its settings,
    and those that must agree (precision and device, batch and processes) where they can be
    judged here (a ``device=auto`` job finds its device where it runs)."""
    from runner.platform.settings import check_batch_split, check_precision
    from runner.run.settings import settings_from

    if config is None:
        return None
    try:
        settings = settings_from(config)
        check_batch_split(settings.device.processes, settings.data.batch_size)
        if settings.device.type == "cpu":
            check_precision(settings.trainer.precision, "cpu")
    except ConfigError as error:
        return str(error)
    return None


class Composer:
    """The resolved config of the sweep's fixed overrides with each combination of swept
    group options, composed once each by Hydra's own config loader."""

    def __init__(self, config_name: str, fixed: Sequence[str]) -> None:
        self.config_name = config_name
        self.fixed = list(fixed)
        self.composed: dict[tuple[str, ...], dict[str, Any]] = {}

    def config_with(self, options: tuple[str, ...]) -> dict[str, Any]:
        if options not in self.composed:
            from hydra.core.global_hydra import GlobalHydra
            from hydra.types import RunMode

            loader = GlobalHydra.instance().config_loader()
            cfg = loader.load_configuration(
                self.config_name, [*self.fixed, *options], run_mode=RunMode.RUN
            )
            from runner.sweeps.job import group_choices

            choices = group_choices(OmegaConf.to_container(cfg.hydra.runtime.choices))  # type: ignore[arg-type]
            with open_dict(cfg):
                del cfg["hydra"]
            config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
            self.composed[options] = config | {"choices": choices}
        return self.composed[options]


def first_problem(keys: Sequence[SweptKey], composer: Composer) -> str | None:
    """The first bad value (each distinct value once), else the first job whose combination
    of values is refused; None when every job's values are usable."""
    groups = [k for k in keys if k.group]
    settings = [k for k in keys if not k.group]
    first_options = tuple(f"{k.key}={k.values[0]}" for k in groups if k.values)
    return (
        first_option_not_composed(groups, first_options, composer)
        or first_bad_value(settings, composer.config_with(first_options))
        or first_refused_job(groups, [typed(swept) for swept in settings], composer)
    )


def first_option_not_composed(
    groups: Sequence[SweptKey], first_options: tuple[str, ...], composer: Composer
) -> str | None:
    """The first option of a swept group whose config does not compose, with the first
    option of each other group."""
    for group in groups:
        for index, option in enumerate(dict.fromkeys(group.values)):
            chosen = tuple(o if not o.startswith(f"{group.key}=") else f"{group.key}={option}"
                           for o in first_options)  # fmt: skip
            try:
                composer.config_with(chosen)
            except Exception as error:  # Hydra's own words for an option that does not compose
                problem = schema_problem(error) or error
                return f"{group.key}={option} ({group.position(index)}): {problem}"
    return None


def first_bad_value(settings: Sequence[SweptKey], base: dict[str, Any]) -> str | None:
    """The first value of a swept setting that its schema or its settings refuse alone."""
    for swept in settings:
        for index, value in enumerate(swept.values):
            try:
                problem = problem_with(with_value(base, swept.key, typed_value(swept.key, value)))
            except ConfigError as error:
                problem = str(error)
            if problem is not None:
                return f"{swept.key}={value} ({swept.position(index)}): {problem}"
    return None


def typed(swept: SweptKey) -> SweptKey:
    """``swept`` with its values as the schema holds them (``16`` as ``"16"``)."""
    return replace(swept, values=tuple(typed_value(swept.key, v) for v in swept.values))


def first_refused_job(
    groups: Sequence[SweptKey], settings: Sequence[SweptKey], composer: Composer
) -> str | None:
    """The first job whose combination of values the runner refuses."""
    for number, options, values in jobs(groups, settings):
        config: dict[str, Any] | None = composer.config_with(options)
        for swept, value in zip(settings, values, strict=True):
            config = with_value(config, swept.key, value) if config is not None else None
        problem = problem_with(config)
        if problem is not None:
            said = " ".join(
                [*options, *(f"{k.key}={v}" for k, v in zip(settings, values, strict=True))]
            )
            return f"job {number} ({said}): {problem}"
    return None


def jobs(
    groups: Sequence[SweptKey], settings: Sequence[SweptKey]
) -> Iterator[tuple[int, tuple[str, ...], tuple[Any, ...]]]:
    """Each job's number, group options and setting values, in the order Hydra's basic
    sweeper launches them (the product of the keys' values, the first key slowest)."""
    if len(groups) + len(settings) < 2:
        return  # one key: its values were each checked alone
    group_values = [[f"{group.key}={value}" for value in group.values] for group in groups]
    for number, combination in enumerate(
        itertools.product(*group_values, *(s.values for s in settings))
    ):
        yield number, tuple(combination[: len(groups)]), tuple(combination[len(groups) :])


def task_overrides(config: DictConfig) -> list[str]:
    """The sweep's overrides, as typed, of ``config`` (its Hydra config)."""
    return list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])


def search_space(config: DictConfig) -> dict[str, str]:
    """The Optuna search space a ``search=`` option sets (``hydra.sweeper.params``), if any."""
    search = OmegaConf.select(config, "hydra.sweeper.params", default=None)
    return (
        {str(k): str(v) for k, v in (OmegaConf.to_container(search) or {}).items()}
        if search
        else {}
    )


def check_sweep_values(config: DictConfig) -> str | None:
    """The first problem with a value the sweep of ``config`` (its Hydra config) would give."""
    overrides = task_overrides(config)
    groups = set(OmegaConf.to_container(config.hydra.runtime.choices))  # type: ignore[arg-type]
    keys = swept_keys(overrides, groups, search_space(config))
    if not keys:
        return None
    swept = {k.key for k in keys}
    parser = OverridesParser.create()
    fixed = [o.input_line for o in parser.parse_overrides(overrides)
             if o.key_or_group not in swept and not o.key_or_group.startswith(NOT_CHECKED)]  # fmt: skip
    return first_problem(keys, Composer(config.hydra.job.config_name, fixed))


class SweepValuesCheck(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``, first: it runs before
    the sweep directory is made."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        problem = check_sweep_values(config)
        if problem is not None:
            print(f"error: {problem}; no job was run", file=sys.stderr)
            raise SystemExit(CONFIG_ERROR_EXIT_CODE)  # Hydra would only warn
