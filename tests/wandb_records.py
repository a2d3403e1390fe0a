"""Read back what the real W&B client wrote for an offline run.

An offline run keeps everything it logged in ``run-<id>.wandb``: a LevelDB-style log (32 KiB
blocks of length-prefixed chunks) of W&B's own protobuf ``Record`` messages. This reader
turns it back into the run's config, history rows, summary and exit code.
"""

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK_SIZE = 32 * 1024
HEADER_SIZE = 7  # ":W&B", a magic number and a version byte
CHUNK_HEADER = struct.Struct("<IHB")  # checksum, length, kind
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_chunks(data: bytes):
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file")
    position, pending = HEADER_SIZE, b""
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK_SIZE - position % BLOCK_SIZE
        if left_in_block < CHUNK_HEADER.size:
            position += left_in_block
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, position)
        position += CHUNK_HEADER.size
        chunk = data[position : position + length]
        position += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


@dataclass
class OfflineRun:
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None
    group: str = ""
    tags: list[str] = field(default_factory=list)
    name: str = ""
    artifacts: list[dict] = field(default_factory=list)  # name, type, aliases, metadata, files


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def read_finished_run(
    run_dir: Path, timeout_s: float = 30.0, name: str | None = None
) -> OfflineRun:
    """The offline run once its exit record is on disk.

    ``run.finish()`` returns when W&B's service has handled the exit; its file writer may
    still hold the last records, so a reader in the same process waits for them.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        run = read_offline_run(run_dir, name)
        if run.exit_code is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def read_offline_run(run_dir: Path, name: str | None = None) -> OfflineRun:
    """The single offline W&B run under ``run_dir/wandb`` (the one called ``name``, when
    several are there)."""
    paths = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    if name is not None:
        runs = [run for run in map(read_run_file, paths) if run.name == name]
        assert len(runs) == 1, f"{len(runs)} runs called {name!r} under {run_dir}"
        return runs[0]
    (path,) = paths
    return read_run_file(path)


def read_run_file(path: Path) -> OfflineRun:
    """A ``run-<id>.wandb`` file read back."""
    run = OfflineRun()
    for chunk in read_chunks(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.group = record.run.run_group
            run.name = record.run.display_name
            run.tags = list(record.run.tags)
            run.config.update(
                {item.key: json.loads(item.value_json) for item in record.run.config.update}
            )
        elif kind == "config":
            run.config.update(
                {item.key: json.loads(item.value_json) for item in record.config.update}
            )
        elif kind == "history":
            run.history.append(
                {_key(item): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "summary":
            run.summary.update(
                {_key(item): json.loads(item.value_json) for item in record.summary.update}
            )
        elif kind == "artifact":
            run.artifacts.append(
                {
                    "name": record.artifact.name,
                    "type": record.artifact.type,
                    "aliases": set(record.artifact.aliases),
                    "metadata": json.loads(record.artifact.metadata or "{}"),
                    "files": {c.path: c.digest for c in record.artifact.manifest.contents},
                }
            )
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run
