"""The golden runs (``tests/golden/cases.py``) give exactly the metrics pinned in
``tests/golden/metrics.json``, and a checkpoint written by an earlier version still resumes to
the same numbers as an uninterrupted run.

A change that moves these numbers on purpose re-records them with ``make golden`` and says
why in CHANGELOG.md.
"""

import json
import shutil
from pathlib import Path

import pytest

from tests.golden.cases import CASES, SHARED
from tests.golden.record import GOLDEN, measured, run_case

HERE = Path(__file__).resolve().parent
FORMAT_2_RUN = HERE / "format2_run"  # logreg_step_schedule stopped at step 100, checkpoint format 2


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


QUICK = ("stn", "vae", "gan", "logreg_step_schedule")  # make test; the rest, CI's full run


@pytest.mark.parametrize(
    "name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in CASES]
)
def test_a_golden_run_gives_the_pinned_metrics(name, golden, tmp_path, data_root):
    result = run_case(name, tmp_path, data_root)
    assert result.returncode == 0, result.stderr[-2000:]
    now, pinned = measured(tmp_path / name), golden[name]
    assert now["records"] == pinned["records"], f"{name}: the logged records moved"
    assert now == pinned


def test_a_checkpoint_of_format_2_resumes_to_the_uninterrupted_numbers(golden, tmp_path, data_root):
    """Written before runner/ was laid out in layers (its schedule's ``_target_`` is the
    module path of then): it resumes, and ends where the uninterrupted run ends."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(FORMAT_2_RUN / "last_checkpoint.zip", run_dir / "checkpoints" / "last.pt")
    for name in ("metrics.jsonl", "summary.json"):
        shutil.copy(FORMAT_2_RUN / name, run_dir / name)
    from tests.conftest import run_cli

    result = run_cli(
        *SHARED, *CASES["logreg_step_schedule"], f"data.root={data_root}",
        f"hydra.run.dir={run_dir}", "resume=true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming from" in result.stdout and "at step 100" in result.stdout
    assert measured(run_dir)["metrics"] == golden["logreg_step_schedule"]["metrics"]
