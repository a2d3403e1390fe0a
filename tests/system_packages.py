"""``make test``'s first step: the system packages the tests need, installed where they can be.

SLURM with slurmdbd and MariaDB (the local cluster of ``tests/slurm``) and PostgreSQL (the
shared Optuna storage of ``tests/search``) come from Debian's packages. As root with
apt-get, whatever is missing is installed; elsewhere each group says in one line why its
tests will be skipped. Either way the test verdicts do not depend on what was installed
before: the same tests run, or skip with the same reason.

    python -m tests.system_packages
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from runner.slurm.cluster import PACKAGES, PROGRAMS

GROUPS = {"SLURM": (PROGRAMS, PACKAGES), "PostgreSQL": (("initdb",), ("postgresql",))}
POSTGRES_BINARIES = Path("/usr/lib/postgresql")


def installed(program: str) -> bool:
    if program == "initdb":  # Debian keeps PostgreSQL's programs off the PATH
        return any(POSTGRES_BINARIES.glob("*/bin/initdb"))
    return shutil.which(program) is not None


def why_not_installable() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("apt-get") is None:
        return "no apt-get here"
    return None


def install(packages: tuple[str, ...]) -> str | None:
    """Install ``packages`` with apt-get; the last line of its error when it fails."""
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            return (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return None


def main() -> int:
    for group, (programs, packages) in GROUPS.items():
        if all(installed(program) for program in programs):
            continue
        reason = why_not_installable()
        if reason is None:
            print(f"installing {group} for its tests: apt-get install {' '.join(packages)}")
            reason = install(packages)
        if reason is not None:
            print(f"{group}: not installed ({reason}); its tests will be skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
