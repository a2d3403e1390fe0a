"""Checks of one setting's value, each raising a :class:`ConfigError` that names the setting
and what it may be: the pieces every settings class and ``_target_`` builds its checks from."""

import difflib
from typing import Any

from runner.platform.errors import ConfigError


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(key: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not is_int(value) or value < minimum:
        what = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ConfigError(f"{key} must be {what}; got {value!r}")


def check_number(key: str, value: Any, positive: bool, allow_none: bool = False) -> None:
    """A number > 0 (``positive``) or >= 0."""
    if value is None and allow_none:
        return
    if not is_number(value) or not (value > 0 if positive else value >= 0):
        what = "a number " + ("> 0" if positive else ">= 0") + (" or null" if allow_none else "")
        raise ConfigError(f"{key} must be {what}; got {value!r}")


def check_choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        shown = ", ".join(str(choice) for choice in choices)
        near = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
        meant = f"; did you mean {key}={near[0]}?" if near else ""
        raise ConfigError(f"{key} must be one of {shown}; got {value!r}{meant}")
