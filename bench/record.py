"""Where a measurement came from, written beside its numbers in ``docs/results/<name>.json``.

Every script that measures something the documentation quotes (``bench/results.py``, the
``bench_*.py`` benchmarks) ends with :func:`write`, so each results file holds the command
that produced it, what it measures, the machine, the versions, the commit and the date. The
pages read the files through ``docs/macros.py``; no measured number is typed by hand.
"""

import json
import os
import platform
import subprocess
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


def write(
    name: str, measured: dict[str, Any], *, command: str, measures: str, out: Path = RESULTS
) -> Path:
    """``<out>/<name>.json``: the measured values with their provenance, written atomically."""
    record = {
        "command": command,
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
