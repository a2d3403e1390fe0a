"""``make golden``: run every golden case through the command line and record its metrics in
``tests/golden/metrics.json``, which ``tests/golden/test_golden.py`` compares against exactly.

Re-record only when a change of the code is meant to move the numbers, and say why in
CHANGELOG.md.

    python -m tests.golden.record [CASE ...]
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.golden.cases import CASES, SHARED

GOLDEN = Path(__file__).resolve().parent / "metrics.json"
REPO = Path(__file__).resolve().parents[2]


def run_case(name: str, work: Path, data_root: Path) -> subprocess.CompletedProcess:
    """Case ``name`` as ``python -m runner ...`` in ``work/name``."""
    command = [
        sys.executable, "-m", "runner", *SHARED, *CASES[name],
        f"data.root={data_root}", f"hydra.run.dir={work / name}",
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, check=False
    )


def measured(run_dir: Path) -> dict:
    """What a golden case pins: every logged record but for wall-clock ones (``perf/``),
    and the summary's final metrics and objective."""
    records = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        records.append({k: v for k, v in record.items() if not k.startswith("perf/")})
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "records": records,
        "metrics": summary["metrics"],
        "objective": summary["objective"],
        "steps": summary["steps"],
    }


def record(names: list[str]) -> dict[str, dict]:
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    with tempfile.TemporaryDirectory(prefix="golden-") as temporary:
        work = Path(temporary)
        for name in names:
            result = run_case(name, work, work / "data")
            if result.returncode != 0:
                sys.exit(f"golden case {name} failed:\n{result.stderr[-2000:]}")
            golden[name] = measured(work / name)
            print(f"{name}: {golden[name]['objective']}")
    ordered = {name: golden[name] for name in CASES if name in golden}
    GOLDEN.write_text(json.dumps(ordered, indent=1) + "\n")
    return ordered


if __name__ == "__main__":
    record(sys.argv[1:] or list(CASES))
