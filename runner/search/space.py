"""The search space as the command line writes it, turned into Optuna's distributions.

Hydra's sweep syntax says what to search: ``choice(a, b)`` a category, ``range(1, 9)`` (or
``range(0, 1, step=0.25)``) evenly spaced numbers, ``interval(0, 1)`` a continuous range and
``tag(log, interval(1e-4, 1e-1))`` the same on a log scale. A plain ``key=value`` is fixed
for every trial.
"""

from collections.abc import Iterable
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from runner.platform.errors import ConfigError


def distribution_of(override: Override) -> BaseDistribution:
    """The Optuna distribution a sweep override (``choice``, ``range``, ``interval``) asks for."""
    sweep = override.value()
    key = override.get_key_element()
    if isinstance(sweep, ChoiceSweep) or (isinstance(sweep, RangeSweep) and sweep.shuffle):
        return CategoricalDistribution(
            list(override.sweep_iterator(transformer=Transformer.encode))
        )
    if isinstance(sweep, RangeSweep):  # range() leaves out its stop, as Python's does
        values = list(override.sweep_iterator(transformer=Transformer.encode))
        if not values:
            raise ConfigError(f"{key}: {override.input_line} holds no value")
        if all(isinstance(v, int) for v in values) and isinstance(sweep.step, int):
            return IntDistribution(values[0], values[-1], step=sweep.step)
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(sweep.step))
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        if log and sweep.start <= 0:
            raise ConfigError(f"{key}: a log interval must start above 0, not {sweep.start}")
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ConfigError(
        f"{key}: an Optuna search takes choice(...), range(...) or interval(...), not {override.input_line}"
    )


def parse_search(arguments: Iterable[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """The searched settings with their distributions, and the fixed overrides, in order.

    A later argument for the same key replaces an earlier one, so a value on the command line
    fixes a setting a search file would search (``search=stn optim=adam``).
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except HydraException as error:
        raise ConfigError(str(error).splitlines()[0]) from None
    latest: dict[str, Override] = {}
    for override in parsed:
        latest.pop(override.get_key_element(), None)
        latest[override.get_key_element()] = override
    space = {key: distribution_of(o) for key, o in latest.items() if o.is_sweep_override()}
    fixed = [o.input_line for o in latest.values() if not o.is_sweep_override()]
    return space, fixed


def suggest(trial: optuna.Trial, space: dict[str, BaseDistribution]) -> None:
    """Have the study's sampler choose the trial's value of every searched setting (a queued
    trial keeps the values it has)."""
    for name, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            trial.suggest_categorical(name, distribution.choices)
            continue
        numbers = (
            trial.suggest_int if isinstance(distribution, IntDistribution) else trial.suggest_float
        )
        numbers(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )


def as_overrides(params: dict[str, Any]) -> list[str]:
    """A trial's parameters as the command line's ``key=value`` overrides."""
    return [f"{key}={as_override_value(value)}" for key, value in params.items()]


def as_override_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def grid_of(space: dict[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of each setting, for the grid sampler; a continuous one has no grid."""
    grid: dict[str, list[Any]] = {}
    for key, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            grid[key] = list(distribution.choices)
        elif distribution.step is not None and not distribution.log:
            count = int(round((distribution.high - distribution.low) / distribution.step)) + 1
            grid[key] = [distribution.low + i * distribution.step for i in range(count)]
        else:
            raise ConfigError(
                f"hydra.sweeper.sampler=grid: {key} is continuous; give it as choice(...) or "
                "range(...) for a grid"
            )
    return grid


def describe(space: dict[str, BaseDistribution]) -> dict[str, str]:
    """The search space as JSON text, to store with the study and compare on a rerun."""
    return {key: distribution_to_json(space[key]) for key in sorted(space)}
