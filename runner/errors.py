"""Mistakes in what the user asked for, told in one line.

A :class:`ConfigError` is the user's to fix (a setting out of range, a dataset that is not
there), not a bug: the command line prints its message alone, with no traceback, and exits
with :data:`CONFIG_ERROR_EXIT_CODE`.
"""


class ConfigError(ValueError):
    """A setting the run cannot work with. The message names the setting and what is allowed."""


def describe_error(error: BaseException) -> str:
    """How ``summary.json`` and the sweep report state an error: its type and message."""
    return f"{type(error).__name__}: {error}"


CONFIG_ERROR_EXIT_CODE = 2
"""The exit status for bad input, as argparse uses: distinct from a crash's 1."""
