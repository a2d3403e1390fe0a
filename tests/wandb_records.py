"""Read back what the real W&B client wrote for an offline run, with W&B's own reader.

An offline run keeps everything it logged in ``run-<id>.wandb``, a log of W&B's records.
``wandb leet inspect --json`` prints each record as a line of JSON; this module gathers them
into the run's config, history rows, summary, metric declarations and exit code.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

WANDB = Path(sys.executable).with_name("wandb")  # the command line the wandb package installs


@dataclass
class OfflineRun:
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None
    group: str = ""
    tags: list[str] = field(default_factory=list)
    name: str = ""
    job_type: str = ""
    notes: str = ""
    metrics: list[dict] = field(default_factory=list)  # define_metric's records
    artifacts: list[dict] = field(default_factory=list)  # name, type, aliases, metadata, files

    def declared(self, name: str) -> dict:
        """The define_metric record of the metric ``name`` (or of the glob ``name``)."""
        found = [m for m in self.metrics if name in (m.get("name"), m.get("glob_name"))]
        assert found, f"no define_metric record for {name!r}: {self.metrics}"
        return found[-1]


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
    found = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    paths = sorted(path for path in found if not path.parent.is_symlink())  # a sweep's links
    if name is not None:
        runs = [run for run in map(read_run_file, paths) if run.name == name]
        assert len(runs) == 1, f"{len(runs)} runs called {name!r} under {run_dir}"
        return runs[0]
    (path,) = paths
    return read_run_file(path)


def inspect_records(path: Path) -> list[dict]:
    """Every record of a ``run-<id>.wandb`` file, as ``wandb leet inspect --json`` prints it."""
    printed = subprocess.run(
        [str(WANDB), "leet", "inspect", "--json", str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return [json.loads(line) for line in printed.stdout.splitlines() if line.strip()]


def read_run_file(path: Path) -> OfflineRun:
    """A ``run-<id>.wandb`` file read back."""
    run = OfflineRun()
    for record in inspect_records(path):
        kind = record["type"]
        body = record.get(kind, {})
        if kind == "run":
            run.group = body.get("run_group", "")
            run.name = body.get("display_name", "")
            run.tags = list(body.get("tags", []))
            run.job_type = body.get("job_type", "")
            run.notes = body.get("notes", "")
            run.config.update(body.get("config", {}).get("update", {}))
        elif kind == "config":
            run.config.update(body.get("update", {}))
        elif kind == "history":
            run.history.append(body.get("item", {}))
        elif kind == "summary":
            run.summary.update(body.get("update", {}))
        elif kind == "metric":
            run.metrics.append(body)
        elif kind == "artifact":
            run.artifacts.append(
                {
                    "name": body.get("name"),
                    "type": body.get("type"),
                    "aliases": set(body.get("aliases", [])),
                    "metadata": json.loads(body.get("metadata") or "{}"),
                    "files": {c["path"]: c["digest"] for c in body["manifest"]["contents"]},
                }
            )
        elif kind == "exit":
            run.exit_code = body.get("exit_code", 0)
    return run
