"""``summary.json``: how a run ended, what it measured, and what produced it."""

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from runner.files import write_json_atomically

PACKAGES = ("runner", "torch", "torchvision", "hydra-core", "omegaconf", "wandb", "rich")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit(directory: Path) -> str | None:
    """The commit the code was run from, with ``-dirty`` when it had uncommitted changes."""
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
