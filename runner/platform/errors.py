"""Mistakes in what the user asked for, and damaged files and unwritable places, told in one line.

A :class:`ConfigError` is the user's to fix (a setting out of range, a dataset that is not
there, a file that is damaged), not a bug: the command line prints its message alone, with no
traceback, and exits with :data:`CONFIG_ERROR_EXIT_CODE`. So is an :class:`OSError` that says
a place cannot be written (:func:`unwritable_place`).
"""

import errno
import os


class ConfigError(ValueError):
    """A setting the run cannot work with. The message names the setting and what is allowed."""


class DamagedFile(ConfigError):
    """A file the runner reads that is truncated, damaged or foreign.

    The message names the file, what is wrong with it and what to do; the file itself is
    left as it is, for the user to look at.
    """

    def __init__(self, path: object, problem: str, remedy: str) -> None:
        super().__init__(f"{path} {problem}; {remedy}" if remedy else f"{path} {problem}")


def describe_error(error: BaseException) -> str:
    """How ``summary.json`` and the sweep report state an error: its type and message."""
    return f"{type(error).__name__}: {error}"


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its type's name when it has none: how a
    library's long error is told in a one-line one."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


CONFIG_ERROR_EXIT_CODE = 2
"""The exit status for bad input, as argparse uses: distinct from a crash's 1."""


PLACE_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.EISDIR,
        errno.ENAMETOOLONG,
        errno.ENOENT,  # a directory on the way that cannot be made (mkdir under /proc)
    }
)


PLACE_REASONS = {
    errno.ENOENT: "no directory can be made there",
    errno.EEXIST: "a file is there, where a directory should be",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
}


def unwritable_place(error: BaseException) -> str | None:
    """``error`` in one line when it says a file or folder cannot be made or written there
    (no permission, a read-only or full disk, a file where a folder should be); None for any
    other error, which is a bug to be shown whole."""
    if not isinstance(error, OSError) or error.errno not in PLACE_ERRNOS:
        return None
    where = f" {error.filename}" if error.filename else ""
    reason = PLACE_REASONS.get(error.errno) or error.strerror or os.strerror(error.errno)
    return f"cannot write{where}: {reason}"


def setting_for(error: OSError, places: dict[str, str]) -> str | None:
    """Which of ``places`` (setting -> the directory or file it chose) the place ``error``
    could not write is in, or on the way to; None when it is none of them."""
    if not error.filename:
        return None
    failed = os.path.abspath(str(error.filename))
    for setting, chosen in places.items():
        chosen = os.path.abspath(str(chosen))
        if (
            failed == chosen
            or failed.startswith(chosen + os.sep)
            or chosen.startswith(failed + os.sep)
        ):
            return setting
    return None
