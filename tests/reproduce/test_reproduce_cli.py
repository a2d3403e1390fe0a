"""``python -m runner.reproduce`` through its command line: the claims decided from real
sweeps, the three reports, the exit status, a second call reusing the first's jobs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_environment


def reproduce(*arguments: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner.reproduce", *arguments], cwd=cwd,
        env=cli_environment(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argument", "names"),
    [("paper=stm", "paper=stn"), ("budget=shrot", "budget=short"), ("budget=huge", "smoke")],
)
def test_a_bad_choice_is_one_line(tmp_path, argument, names):
    done = reproduce(argument, f"out={tmp_path / 'out'}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and names in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def claims_of(report: dict) -> dict[str, dict]:
    return {claim["id"]: claim for paper in report["papers"] for claim in paper["claims"]}


@pytest.mark.slow
def test_every_paper_at_the_smoke_budget_holds(tmp_path, data_root):
    """What CI runs: each claim whose effect shows at the smoke budget is checked and holds;
    the others say they were not run at it."""
    out = tmp_path / "report"
    done = reproduce("paper=all", "budget=smoke", f"out={out}", "logger=none",
                     f"data.root={data_root}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    claims = claims_of(report)
    assert {paper["paper"] for paper in report["papers"]} == {"adam", "gan", "stn", "vae"}
    checked = {name for name, claim in claims.items() if claim["verdict"] == "holds"}
    assert {"st_beats_its_base", "value_is_js", "js_saturates_for_disjoint_supports",
            "importance_sampling_bound", "step_bounded_by_alpha"} <= checked  # fmt: skip
    assert all(c["verdict"] in ("holds", "not run at this budget") for c in claims.values())
    for claim in claims.values():
        for run_dir in claim["run_dirs"]:
            assert (Path(run_dir) / "summary.json").is_file()
    markdown = (out / "report.md").read_text()
    assert "| st_beats_its_base | Table 1 |" in markdown
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and '<img src="http' not in page


@pytest.mark.slow
def test_a_claim_that_does_not_hold_fails_the_command_and_a_rerun_reuses_the_jobs(
    tmp_path, data_root
):
    """One step of training leaves D far from D*: Proposition 1's claim fails, the command
    exits 1 and names it, while the analytic claims still hold. The same command again
    reruns no job."""
    arguments = ["paper=gan", "budget=smoke", f"out={tmp_path / 'r'}", "trainer.max_steps=1",
                 "logger.mode=offline", f"data.root={data_root}"]  # fmt: skip
    done = reproduce(*arguments, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "not holding or undecided: optimal_discriminator" in done.stderr
    claims = claims_of(json.loads((tmp_path / "r" / "report.json").read_text()))
    assert claims["optimal_discriminator"]["verdict"] == "does not hold"
    assert claims["value_is_js"]["verdict"] == "holds"
    assert claims["non_saturating_gradient"]["verdict"] == "not run at this budget"
    # the claims as a W&B report, saved by runner.sync once there is a server
    assert f"save it with: python -m runner.sync {tmp_path / 'r'}" in done.stdout
    wandb_report = (tmp_path / "r" / "wandb_report.json").read_text()
    assert (
        "optimal_discriminator" in wandb_report and "Reproduction at budget smoke" in wandb_report
    )
    trained = sorted((tmp_path / "r").glob("*/*/metrics.jsonl"))
    before = {path: path.stat().st_mtime_ns for path in trained}
    again = reproduce(*arguments, cwd=tmp_path)
    assert again.returncode == 1
    assert {path: path.stat().st_mtime_ns for path in trained} == before
    assert "skipped" in again.stdout or "completed" in again.stdout
