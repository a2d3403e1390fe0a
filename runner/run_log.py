"""Everything a run records as it goes: metrics, figures, and their W&B mirror."""

import time
from pathlib import Path

from torch import Tensor
from torchvision.utils import save_image

from runner.metrics import MetricsFile, read_metrics
from runner.wandb_run import WandbRun


class RunLog:
    """Writes each logged record to ``metrics.jsonl`` and W&B, and remembers the latest values.

    Keys under ``perf/`` are wall-clock measurements: they go to the files like the rest but
    are the only values that differ between two runs with the same seed.
    """

    def __init__(
        self,
        run_dir: Path,
        metrics: MetricsFile,
        wandb: WandbRun | None,
        elapsed_before: float = 0.0,
    ) -> None:
        """``elapsed_before``: the wall time of the run's earlier sessions, when it is resumed."""
        self._started = time.perf_counter() - elapsed_before
        self.figures_dir = run_dir / "figures"
        self.metrics = metrics
        self.wandb = wandb
        self.latest: dict[str, float] = {}
        for record in read_metrics(metrics.path):  # what a resumed run logged before it stopped
            self.latest.update({k: v for k, v in record.items() if k not in ("step", "epoch")})

    def log(self, values: dict[str, float], step: int, epoch: int) -> None:
        self.metrics.write({"step": step, "epoch": epoch, **values})
        if self.wandb is not None:
            self.wandb.log({**values, "epoch": epoch}, step=step)
        self.latest.update(values)

    def save_figures(self, figures: dict[str, Tensor], step: int) -> dict[str, Path]:
        """Save each image grid as ``figures/<name>.png`` (the latest one) and send it to W&B."""
        if not figures:
            return {}
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, grid in figures.items():
            paths[name] = self.figures_dir / f"{name}.png"
            save_image(grid.detach().float().cpu(), paths[name])
        if self.wandb is not None:
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
        self.metrics.close()
        if self.wandb is not None:
            self.wandb.finish(failed=failed)
