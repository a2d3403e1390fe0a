"""Files written so that a crash leaves either the old version or the new one, never half."""

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _replace_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    import torch  # here, not at the top: the command line reads and writes JSON without it

    _replace_atomically(path, lambda file: torch.save(obj, file))


def write_text_atomically(text: str, path: Path) -> None:
    _replace_atomically(path, lambda file: file.write(text.encode()))


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


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or an empty dict when there is no such file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
