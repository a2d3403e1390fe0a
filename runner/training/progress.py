"""The progress bar of a run's training."""

from collections.abc import Mapping

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from runner.platform.console import Display, console, format_value


class TrainingProgress:
    """A progress bar of optimisation steps with the latest training metric, the throughput
    and the time left."""

    def __init__(self, total_steps: int, steps_done: int) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metric]}"),
            TextColumn("{task.fields[speed]} samples/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=not Display.detailed,
            # a sweep's job in a log file: its start and end lines say all a bar would
            disable=not (Display.detailed or console.is_interactive),
        )
        self.task = self.bar.add_task(
            "train", total=total_steps, completed=steps_done, metric="", speed="-"
        )

    def __enter__(self) -> "TrainingProgress":
        self.bar.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.bar.stop()
        if Display.detailed:
            console.print()

    def advance(self) -> None:
        self.bar.advance(self.task)

    def show(self, metrics: Mapping[str, float], samples_per_s: float | None) -> None:
        """Show ``train/loss`` (or the first metric, for a model without a loss) and the speed."""
        name = "train/loss" if "train/loss" in metrics else next(iter(metrics), None)
        if name is not None:
            shown = f"{name.removeprefix('train/')} {format_value(metrics[name])}"
            self.bar.update(self.task, metric=shown)
        if samples_per_s is not None:
            self.bar.update(self.task, speed=f"{samples_per_s:,.0f}")
