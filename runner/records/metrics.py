"""``metrics.jsonl``: every logged record, written as it is logged and read back whole or as
series over steps. Reading it needs no torch (``python -m runner.plot``)."""

import hashlib
import json
import math
from pathlib import Path
from typing import IO

from runner.figures.series import Series
from runner.platform.errors import DamagedFile
from runner.platform.files import as_number, finite_or_string

METRICS_REMEDY = (
    "move it away to go on with a new metrics.jsonl (resume=true), or start a new run in "
    "another directory"
)


class MetricsFile:
    """``metrics.jsonl``: one JSON object per logged record, flushed as it is written.

    Each record holds ``step`` and ``epoch`` beside the metrics. Non-finite values are written
    as strings (``"nan"``, ``"inf"``) so that every line stays strict JSON.
    """

    def __init__(self, path: Path, keep_bytes: int | None = None) -> None:
        """Open for appending; ``keep_bytes`` first cuts the file back to that length.

        A resumed run cuts away what was logged after its checkpoint, so the file reads as if
        the run had never stopped. The run has checked the file (:func:`check_metrics_file`)
        while it was prepared, before writing anything.
        """
        self.path = path
        self._digest = hashlib.sha256()
        if keep_bytes is not None and path.exists():
            with path.open("r+b") as file:
                file.truncate(keep_bytes)
                self._digest.update(file.read())
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, float | int | str]) -> None:
        line = json.dumps(finite_or_string(record), allow_nan=False) + "\n"  # ASCII
        self._file.write(line)
        self._file.flush()
        self._digest.update(line.encode())

    def digest(self) -> str:
        """The SHA-256 of the file so far: a resumed run checks its records are unchanged."""
        return self._digest.hexdigest()

    def size(self) -> int:
        """Bytes written so far: where a resumed run cuts the file back to."""
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def check_metrics_file(path: Path, keep_bytes: int, sha256: str = "") -> None:
    """Raise :class:`DamagedFile` unless the first ``keep_bytes`` of ``path`` (what a resumed
    run keeps) are there, hold whole records and, where the checkpoint recorded their
    ``sha256``, are the bytes it was written beside; a missing file starts afresh."""
    if not path.exists():
        return
    length = path.stat().st_size
    if length < keep_bytes:
        raise DamagedFile(
            path,
            f"has {length} bytes, fewer than the {keep_bytes} it had when last.pt was written",
            METRICS_REMEDY,
        )
    with path.open("rb") as file:
        kept = file.read(keep_bytes)
    parse_records(path, kept)
    if sha256 and hashlib.sha256(kept).hexdigest() != sha256:
        raise DamagedFile(
            path,
            f"has changed in its first {keep_bytes} bytes since last.pt was written "
            "(a record edited or damaged)",
            METRICS_REMEDY,
        )


def read_metrics(path: Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` file.

    A last line without its newline is a record a crash cut short, and is left out (a resumed
    run cuts it away). Any other line that is not a JSON object is :class:`DamagedFile`.
    """
    return parse_records(path, path.read_bytes())


def parse_records(path: Path, text: bytes) -> list[dict]:
    """The records in ``text``, read from ``path``, as :func:`read_metrics` tells them."""
    lines = text.split(b"\n")
    records = []
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: after the last newline
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8
            record = None
        if not isinstance(record, dict):
            raise DamagedFile(path, f"line {number} is not a JSON record", METRICS_REMEDY)
        records.append(record)
    return records


NOT_PLOTTED = ("perf/",)  # wall-clock measurements: they describe the machine, not the model


def read_series(metrics_path: Path) -> dict[str, Series]:
    """Every plotted metric of a ``metrics.jsonl``, in the order they first appear."""
    points: dict[str, list[tuple[int, float, int]]] = {}
    for record in read_metrics(metrics_path):
        step, epoch = int(record.get("step", 0)), int(record.get("epoch", 0))
        for name, value in record.items():
            if name in ("step", "epoch") or name.startswith(NOT_PLOTTED):
                continue
            number = as_number(value)  # non-finite values are stored as "nan", "inf"
            points.setdefault(name, []).append(
                (step, math.nan if number is None else number, epoch)
            )
    return {
        name: Series(*(tuple(column) for column in zip(*values, strict=True)))
        for name, values in points.items()
    }
