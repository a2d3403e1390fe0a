"""runner.records.figure_worker: a run's figures drawn by a process started with the run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from runner.records import figure_worker
from tests.conftest import REPO, wait_until

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run_files(run_dir: Path) -> None:
    """A run's metrics and, beside its figures, a line plot saved broken."""
    records = [{"step": s, "epoch": 0, "train/loss": 1.0 / (s + 1)} for s in range(5)]
    records.append({"step": 4, "epoch": 1, "val/loss": 0.3, "test/loss": 0.35})
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "broken.json").write_text("{}")


def test_a_worker_draws_the_runs_figures_and_its_warnings_are_the_runs(tmp_path, caplog):
    run_dir = tmp_path / "run"
    write_run_files(run_dir)
    worker = figure_worker.start_worker()
    assert worker is not None
    try:
        drawn = worker.draw(run_dir, "model=vae seed=0")  # None if it had not answered
    finally:
        worker.stop()
    assert drawn == {"curves": run_dir / "figures" / "curves.png"}
    assert drawn["curves"].read_bytes().startswith(PNG_SIGNATURE)
    assert f"could not draw the line plots in {run_dir / 'figures'} (KeyError" in caplog.text
    assert worker.process.returncode is not None  # stopped, and waited for
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == ["broken.json", "curves.png"]


def test_a_run_has_a_worker_while_it_runs_and_draws_itself_without_one(tmp_path):
    run_dir = tmp_path / "run"
    write_run_files(run_dir)
    assert not figure_worker.worker_ready()
    with figure_worker.figure_worker():
        assert figure_worker.worker_ready()
        worker = figure_worker._worker
        assert figure_worker.draw_with_worker(run_dir, "") == {
            "curves": run_dir / "figures" / "curves.png"
        }
    assert not figure_worker.worker_ready()
    assert worker is not None and worker.process.returncode is not None
    (run_dir / "figures" / "curves.png").unlink()
    drawn = figure_worker.draw_with_worker(run_dir, "")  # drawn here, as a sweep's job does
    assert drawn["curves"].read_bytes().startswith(PNG_SIGNATURE)


def test_the_worker_goes_when_its_run_is_killed(tmp_path):
    """A run killed by SIGKILL cannot stop its worker: the kernel does."""
    script = (
        "import sys\n"
        "from runner.records import figure_worker\n"
        "with figure_worker.figure_worker():\n"
        "    print(figure_worker._worker.process.pid, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        worker_pid = int(run.stdout.readline())
        assert alive(worker_pid)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
        run.stdout.close()
        run.stdin.close()
    wait_until(lambda: not alive(worker_pid), timeout_s=30, what="the worker to go")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_the_worker_and_the_module_that_starts_it_load_no_torch():
    """The worker is started before the run imports torch, and imports only matplotlib."""
    script = (
        "import sys\n"
        "import runner.records.figure_worker, runner.records.run_figures\n"
        "assert not {'torch', 'matplotlib', 'experiments.base'} & set(sys.modules), sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
