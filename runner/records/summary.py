"""``summary.json``: how a run ended, what it measured, and what produced it."""

import functools
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.table import Table

from runner.platform.console import format_value
from runner.platform.files import write_json_atomically

DISTRIBUTION = "paper-runner"  # the runner's name on PyPI, where "runner" is another project
PACKAGES = {  # the name summary.json gives each, and the distribution that holds it
    "runner": DISTRIBUTION,
    **{name: name for name in ("torch", "torchvision", "hydra-core", "omegaconf", "wandb", "rich")},
}


@functools.cache  # a process's libraries do not change while it runs
def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name, distribution in PACKAGES.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.cache  # the code a process runs is what it loaded when it started
def git_commit(directory: Path) -> str | None:
    """The commit the code was run from, with ``-dirty`` when it had uncommitted changes;
    asked once per process (a sweep's jobs in one process share it)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if changes else commit


def write_summary(path: Path, **fields: Any) -> None:
    """Write the summary atomically with the provenance fields added."""
    fields.setdefault("versions", library_versions())
    fields.setdefault("git_commit", git_commit(Path(__file__).resolve().parent))
    write_json_atomically(fields, path)


def summary_table(
    metrics: Mapping[str, float],
    objective: str,
    wall_time_s: float | None = None,
    compile_s: float | None = None,
) -> Table:
    """Final metrics, the objective first and highlighted."""
    table = Table(title="summary", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    names = [objective] + sorted(name for name in metrics if name != objective)
    for name in names:
        if name in metrics:
            style = "bold green" if name == objective else None
            table.add_row(name, format_value(metrics[name]), style=style)
    if wall_time_s is not None:
        table.add_row("wall time", f"{wall_time_s:.1f} s")
    if compile_s is not None:
        table.add_row("compilation (first step)", f"{compile_s:.1f} s")
    return table
