"""Metrics: averaged on the device while training, written to ``metrics.jsonl`` as logged."""

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING

from runner.errors import DamagedFile
from runner.files import finite_or_string

if TYPE_CHECKING:  # reading metrics.jsonl (python -m runner.plot) needs no torch
    from torch import Tensor

METRICS_REMEDY = (
    "move it away to go on with a new metrics.jsonl (resume=true), or start a new run in "
    "another directory"
)


class RunningMeans:
    """Sums of per-step metrics, kept as tensors so that adding one never waits for the device.

    Each metric is averaged over the steps that reported it (a gradient norm is reported only
    by the steps on which an optimizer stepped).
    """

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._steps = 0

    def add(self, metrics: dict[str, "Tensor"]) -> None:
        for name, value in metrics.items():
            total = self._sums.get(name)
            self._sums[name] = value.detach().float() if total is None else total + value.detach()
            self._counts[name] = self._counts.get(name, 0) + 1
        self._steps += 1

    def __len__(self) -> int:
        """Steps added since the last pop."""
        return self._steps

    def state_dict(self) -> dict[str, object]:
        """The sums and counts, for a checkpoint: a resumed run continues the same means."""
        return {"sums": dict(self._sums), "counts": dict(self._counts), "steps": self._steps}

    def load_state_dict(self, state: dict) -> None:
        self._sums, self._counts = dict(state["sums"]), dict(state["counts"])
        self._steps = state["steps"]

    def pop(self) -> dict[str, float]:
        """The means since the last pop (one device read each), and start again."""
        means = {name: total.item() / self._counts[name] for name, total in self._sums.items()}
        self._sums, self._counts, self._steps = {}, {}, 0
        return means


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
        if keep_bytes is not None and path.exists():
            with path.open("r+b") as file:
                file.truncate(keep_bytes)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, float | int | str]) -> None:
        self._file.write(json.dumps(finite_or_string(record), allow_nan=False) + "\n")
        self._file.flush()

    def size(self) -> int:
        """Bytes written so far: where a resumed run cuts the file back to."""
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def check_metrics_file(path: Path, keep_bytes: int) -> None:
    """Raise :class:`DamagedFile` unless the first ``keep_bytes`` of ``path`` (what a resumed
    run keeps) are there and hold whole records; a missing file starts afresh."""
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
        parse_records(path, file.read(keep_bytes))


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
