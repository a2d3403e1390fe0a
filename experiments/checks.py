"""Checks of an experiment's constructor arguments, in the words of the config.

The messages name the setting as the user writes it (``model.latent_dim``), since the runner
shows them as the one line that refuses a run.
"""

import math
from collections.abc import Iterable


def check_positive(**sizes: int) -> None:
    """Raise ``ValueError`` naming the first model setting that is not a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"model.{name} must be a positive integer, got {value!r}")


def check_numbers(**values: float) -> None:
    """Raise ``ValueError`` naming the first model setting that is not a finite number."""
    for name, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"model.{name} must be a finite number, got {value!r}")


def check_sizes(name: str, sizes: Iterable[int]) -> tuple[int, ...]:
    """``sizes`` as a tuple; ``ValueError`` naming ``model.<name>`` unless positive integers."""
    try:
        values = tuple(sizes)
    except TypeError:
        values = ()
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(
            f"model.{name} must be a non-empty list of positive integers, got {sizes!r}"
        )
    return values
