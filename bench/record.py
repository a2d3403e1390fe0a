"""Where a measurement came from, written beside its numbers in ``docs/results/<name>.json``.

Every script that measures something the documentation quotes (``bench/results.py``, the
``bench_*.py`` benchmarks) ends with :func:`write`, so each results file holds the command
that produced it, what it measures, the machine, the versions, the commit and the date. The
pages read the files through ``docs/macros.py``; no measured number is typed by hand.
"""

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "results"


def describe_machine() -> dict[str, Any]:
    import torch

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "os": platform.system()}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "hydra-core", "wandb")} | {
        "python": platform.python_version()
    }


def commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


def invoking_command() -> str:
    """The command that ran this script, as typed from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def write(
    name: str,
    measured: dict[str, Any],
    *,
    measures: str,
    command: str | None = None,
    out: Path = RESULTS,
) -> Path:
    """``<out>/<name>.json``: the measured values with their provenance, written atomically;
    ``command`` is the one that ran the script unless said otherwise (``make results``)."""
    record = {
        "command": command or invoking_command(),
        "measures": measures,
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": describe_machine(),
        "versions": versions(),
        **measured,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)
    return path
