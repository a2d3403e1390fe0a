"""Files written so that a crash leaves either the old version or the new one, never half."""

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from runner.platform.errors import DamagedFile, first_line

TEMPORARY_SUFFIX = ".tmp"  # what a write in progress is called, beside the file it replaces


def _replace_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        os.fchmod(handle, _mode_for_new_files())  # as open() would: mkstemp makes them private
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for_new_files() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_atomically(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``.

    torch's archive writer turns an error of the file's ``write`` (a full disk, or Ctrl-C
    arriving while it writes) into a RuntimeError about positions; the ``OSError`` or
    ``KeyboardInterrupt`` that caused it is raised instead.
    """
    import torch  # here, not at the top: the command line reads and writes JSON without it

    def save(file: IO[bytes]) -> None:
        writer = _WriteErrorKeeper(file)
        try:
            torch.save(obj, writer)
        except RuntimeError:
            if writer.error is None:
                raise
            raise writer.error from None

    _replace_atomically(path, save)


class _WriteErrorKeeper:
    """A binary file that remembers the OSError or KeyboardInterrupt its ``write`` raised."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.error: OSError | KeyboardInterrupt | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.file.write(data)
        except (OSError, KeyboardInterrupt) as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()


def write_bytes_atomically(data: bytes, path: Path) -> None:
    _replace_atomically(path, lambda file: file.write(data))


def write_text_atomically(text: str, path: Path) -> None:
    write_bytes_atomically(text.encode(), path)


def write_json_atomically(obj: Any, path: Path) -> None:
    """Strict JSON: non-finite numbers are written as the strings "nan", "inf" and "-inf"."""
    write_text_atomically(json.dumps(finite_or_string(obj), indent=2, allow_nan=False) + "\n", path)


def finite_or_string(value: Any) -> Any:
    """``value`` with every non-finite float inside it replaced by its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite_or_string(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_string(item) for item in value]
    return value


def as_number(value: Any) -> float | None:
    """A number from ``summary.json``, where non-finite ones are stored as "nan" or "inf"."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_json(path: Path, remedy: str = "delete it and run again") -> dict[str, Any]:
    """The JSON object in ``path``, or an empty dict when there is no such file.

    A file that is not a JSON object (empty, cut short, overwritten by something else) is
    :class:`DamagedFile`, whose message ends with ``remedy``.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise DamagedFile(path, "is not a text file", remedy) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        problem = "is empty" if not text.strip() else f"is not valid JSON ({error})"
        raise DamagedFile(path, problem, remedy) from None
    if not isinstance(value, dict):
        raise DamagedFile(path, f"holds a JSON {type(value).__name__}, not an object", remedy)
    return value


def remove_unfinished_writes(directory: Path) -> list[Path]:
    """Delete what a process killed while writing left in ``directory`` (the temporary
    files of :func:`save_atomically` and the functions beside it); return them."""
    left = sorted(directory.glob(f".*{TEMPORARY_SUFFIX}")) if directory.is_dir() else []
    for path in left:
        path.unlink(missing_ok=True)
    return left


def check_archive(path: Path, remedy: str) -> None:
    """Raise :class:`DamagedFile` unless ``path`` is a whole zip archive (torch's checkpoint
    format) whose every member matches its CRC-32: torch reads a checkpoint without checking
    them, so a flipped bit in a tensor would otherwise load as a different number."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        problem = f"cannot be read: it is cut short or not a checkpoint ({first_line(error)})"
        raise DamagedFile(path, problem, remedy) from None
    if broken is not None:
        raise DamagedFile(path, f"is damaged: {broken} fails its checksum", remedy)
