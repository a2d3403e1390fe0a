"""Everything a run records as it goes: metrics, figures, and their W&B mirror."""

import time
from pathlib import Path

from torch import Tensor

from experiments.base import Histogram, LinePlot
from runner.records.figure_worker import draw_with_worker
from runner.records.images import save_png
from runner.records.metrics import MetricsFile, read_metrics
from runner.records.wandb_run import WandbRun

ONCE_PER_RUN = ("test/", "perf/startup_s", "perf/compile_s")  # names, or their prefixes


def measured_once(name: str) -> bool:
    """Whether ``name`` is measured once per run (a test metric, the start-up time): W&B
    keeps such values in the run's summary, where a table shows them, not as a one-point
    chart of its history."""
    return name.startswith(ONCE_PER_RUN)


class RunLog:
    """Writes each logged record to ``metrics.jsonl`` and W&B, and remembers the latest values.

    Keys under ``perf/`` are wall-clock measurements: they go to the files like the rest but
    are the only values that differ between two runs with the same seed.

    Without a metrics file (``metrics=None``: the other processes of a run of several) it
    writes nothing and only remembers, so that every process knows the objective.
    """

    def __init__(
        self,
        run_dir: Path,
        metrics: MetricsFile | None,
        wandb: WandbRun | None,
        elapsed_before: float = 0.0,
    ) -> None:
        """``elapsed_before``: the wall time of the run's earlier sessions, when it is resumed."""
        self._started = time.perf_counter() - elapsed_before
        self.run_dir = run_dir
        self.figures_dir = run_dir / "figures"
        self.metrics = metrics
        self.wandb = wandb
        self.latest: dict[str, float] = {}
        self.training_ended_at: float | None = None  # Unix time the last step's work ended
        logged = run_dir / "metrics.jsonl"
        for record in read_metrics(logged) if logged.exists() else []:  # before a resume
            self.latest.update({k: v for k, v in record.items() if k not in ("step", "epoch")})

    @property
    def writes(self) -> bool:
        return self.metrics is not None

    def log(self, values: dict[str, float], step: int, epoch: int) -> None:
        if self.metrics is not None:
            self.metrics.write({"step": step, "epoch": epoch, **values})
        if self.wandb is not None:
            once = {name: value for name, value in values.items() if measured_once(name)}
            history = {name: value for name, value in values.items() if name not in once}
            if history:
                self.wandb.log({**history, "epoch": epoch}, step=step)
            if once:
                self.wandb.set_summary(once)
        self.latest.update(values)

    def log_histograms(self, histograms: dict[str, Histogram], step: int) -> None:
        """Distributions, to W&B alone (``metrics.jsonl`` holds numbers)."""
        if histograms and self.wandb is not None:
            self.wandb.log_histograms(histograms, step=step)

    def bytes_written(self) -> int:
        """The length of ``metrics.jsonl`` (0 for a log that writes nothing)."""
        return 0 if self.metrics is None else self.metrics.size()

    def metrics_digest(self) -> str:
        """The SHA-256 of ``metrics.jsonl`` so far ("" for a log that writes nothing)."""
        return "" if self.metrics is None else self.metrics.digest()

    def save_figures(self, figures: dict[str, Tensor], step: int) -> dict[str, Path]:
        """Save each image grid as ``figures/<name>.png`` (the latest one) and send it to W&B."""
        if not figures or not self.writes:
            return {}
        paths = {
            name: save_png(grid, self.figures_dir / f"{name}.png") for name, grid in figures.items()
        }
        if self.wandb is not None:
            self.wandb.log_images(paths, step=step)
        return paths

    def save_line_plots(self, plots: dict[str, LinePlot]) -> None:
        """Save each of the experiment's line plots as ``figures/<name>.json``; they are drawn
        when the run ends (:meth:`draw_figures`)."""
        if plots and self.writes:
            from runner.records.line_plots import save_line_plots

            save_line_plots(plots, self.figures_dir)

    def draw_figures(self, title: str, step: int) -> dict[str, Path]:
        """Draw the run's figures from its files (:func:`draw_with_worker`) and send them to
        W&B."""
        if not self.writes:
            return {}
        paths = draw_with_worker(self.run_dir, title)
        if paths and self.wandb is not None:
            self.wandb.log_images(paths, step=step)
        return paths

    def final_metrics(self) -> dict[str, float]:
        """The last value of every metric, without the wall-clock ones."""
        return {name: value for name, value in self.latest.items() if not name.startswith("perf/")}

    def wall_time(self) -> float:
        """Seconds the run has taken, over all of its sessions."""
        return time.perf_counter() - self._started

    def close(self, failed: bool) -> None:
        """Close the metrics file and finish the W&B run (marked failed when the run raised)."""
        if self.metrics is not None:
            try:
                self.metrics.close()
            except OSError:
                if not failed:
                    raise  # a failed run's own error (a full disk, most likely) is reported
        if self.wandb is not None:
            self.wandb.finish(failed=failed)
