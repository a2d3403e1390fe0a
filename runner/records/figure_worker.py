"""A process of its own that draws a run's figures, started with the run so that matplotlib is
loaded by the time the run ends.

A short run's wind-down was mostly matplotlib: half a second to import it and half a second
to draw the curves, one core's Python work after a test evaluation that used every core. At
the start of a run the import of torch keeps one core busy for seconds and leaves the others
idle: a worker started then imports matplotlib on one of them, and waits. At the run's end it
draws the figures from the run's files (:func:`~runner.records.run_figures.draw_run_figures`)
and answers with what it drew and what it warned of, which the run logs as its own.

The worker dies with its run (:func:`~runner.platform.children.die_with_parent`) and leaves
Ctrl-C to it; the run stops it as it ends. Without a worker (the Python API, a sweep's job, a
rank of a run of several) or once it is gone, the run draws its figures itself.
"""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO

from runner.platform.children import die_with_parent
from runner.records.run_figures import draw_run_figures

MODULE = "runner.records.figure_worker"
STOP_WAIT_S = 30.0  # how long a run that ends while its figures are drawn waits for them


class FigureWorker:
    """The run's side of a worker process: asks it to draw, and stops it."""

    def __init__(self, process: "subprocess.Popen[str]") -> None:
        self.process = process
        self.drawing = False  # a request is unanswered (the run was interrupted waiting)

    @property
    def ready(self) -> bool:
        return not self.drawing and self.process.poll() is None

    def draw(self, run_dir: Path, title: str) -> dict[str, Path] | None:
        """The figures the worker drew for the run in ``run_dir``, by name; None when it is
        gone, or busy with an earlier request that the run stopped waiting for."""
        if not self.ready:
            return None
        stdin, stdout = self.pipes()
        self.drawing = True
        try:
            stdin.write(json.dumps({"run_dir": str(run_dir), "title": title}) + "\n")
            stdin.flush()
            reply = stdout.readline()
        except OSError:  # gone: the pipe is broken
            return None
        if not reply:  # gone while drawing
            return None
        self.drawing = False
        answer = json.loads(reply)
        for logger, message in answer["warnings"]:
            logging.getLogger(logger).warning("%s", message)
        return {name: Path(path) for name, path in answer["drawn"].items()}

    def stop(self) -> None:
        """An idle worker, which has nothing unwritten, is killed; one still drawing (its run
        was interrupted waiting) first finishes the figure it is saving, for at most
        :data:`STOP_WAIT_S`, then is stopped by SIGTERM, which removes an unfinished write."""
        stdin, stdout = self.pipes()
        with contextlib.suppress(OSError):
            stdin.close()  # the end of its input: it leaves once it has answered
        if self.drawing:
            try:
                self.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.terminate()
        self.process.kill()
        self.process.wait()
        stdout.close()

    def pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        return self.process.stdin, self.process.stdout


_worker: FigureWorker | None = None
"""This process's worker, while one runs."""


@contextlib.contextmanager
def figure_worker(wanted: bool = True) -> Iterator[None]:
    """A worker for what runs inside: started now when ``wanted``, stopped at the end."""
    global _worker
    if not wanted or _worker is not None:
        yield
        return
    _worker = start_worker()
    try:
        yield
    finally:
        worker, _worker = _worker, None
        if worker is not None:
            worker.stop()


def worker_ready() -> bool:
    """Whether this process has a worker to draw its run's figures."""
    return _worker is not None and _worker.ready


def draw_with_worker(run_dir: Path, title: str) -> dict[str, Path]:
    """The figures of the run in ``run_dir`` (:func:`draw_run_figures`), drawn by this
    process's worker when it has one, else here."""
    drawn = None if _worker is None else _worker.draw(run_dir, title)
    return draw_run_figures(run_dir, title) if drawn is None else drawn


def start_worker() -> FigureWorker | None:
    """``python -m runner.records.figure_worker``, importing this very runner wherever the
    run was started from; None when no process can be started."""
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(os.getpid())], text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        )  # fmt: skip
    except OSError:
        return None
    return FigureWorker(process)


class KeptWarnings(logging.Handler):
    """The warnings logged while a figure is drawn, to be sent to the run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kept: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append((record.name, record.getMessage()))

    def take(self) -> list[tuple[str, str]]:
        kept, self.kept = self.kept, []
        return kept


def leave_when_stopped(signal_number: int, frame: FrameType | None) -> None:
    """SIGTERM: leave through the exception path, which removes an unfinished write."""
    raise SystemExit(0)


def serve(parent: int) -> None:
    """The worker: import matplotlib, then draw each run it is asked for until its input ends."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's, which then stops us
    signal.signal(signal.SIGTERM, leave_when_stopped)
    import matplotlib.backends.backend_agg  # noqa: F401 (what the worker is for)
    import matplotlib.figure  # noqa: F401

    warnings = KeptWarnings()
    logging.getLogger().addHandler(warnings)
    logging.captureWarnings(True)  # matplotlib's own warnings, too
    for line in sys.stdin:
        request = json.loads(line)
        drawn = draw_run_figures(Path(request["run_dir"]), request["title"])
        answer = {"drawn": {name: str(path) for name, path in drawn.items()},
                  "warnings": warnings.take()}  # fmt: skip
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    os._exit(0)  # its work is written: the interpreter's teardown would only take time


if __name__ == "__main__":
    serve(int(sys.argv[1]))
