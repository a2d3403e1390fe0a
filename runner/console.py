"""What the run shows on the terminal: the config at the start, progress, a summary at the end."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.tree import Tree

console = Console(soft_wrap=True)


class Display:
    """How much a run shows: everything (its config tree, a line per validation, the summary
    table), or, as a job of a sweep, only the progress bar, which clears when the job ends.
    The sweep prints one line as each job starts and ends, and the job's files keep the rest
    (``config_tree.txt``, ``metrics.jsonl``, ``summary.json``)."""

    detailed = True


def brief_output() -> None:
    """Show a run as a job of a sweep does (:class:`Display`)."""
    Display.detailed = False


def plain_output() -> None:
    """Print lines only: for jobs that share a terminal, whose live displays would collide."""
    console.is_interactive = False


def config_tree(config: Mapping[str, Any], label: str = "config") -> Tree:
    """The resolved config as a tree, one branch per group."""
    tree = Tree(f"[bold]{label}[/bold]")

    def add(branch: Tree, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                add(branch.add(f"[bold cyan]{key}[/bold cyan]"), value)
            else:
                branch.add(f"[cyan]{key}[/cyan]: {value!r}")

    add(tree, config)
    return tree


def show_config(config: Mapping[str, Any], save_to: Path) -> None:
    """Print the config tree (unless :func:`brief_output`) and save the same text in the run
    directory."""
    tree = config_tree(config)
    if Display.detailed:
        console.print(tree)
    with save_to.open("w", encoding="utf-8") as file:
        Console(file=file, width=120, color_system=None).print(tree)


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


def summary_table(
    metrics: Mapping[str, float],
    objective: str,
    wall_time_s: float | None = None,
    compile_s: float | None = None,
) -> Table:
    """Final metrics, the objective first and highlighted."""
    table = Table(title="summary", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    names = [objective] + sorted(name for name in metrics if name != objective)
    for name in names:
        if name in metrics:
            style = "bold green" if name == objective else None
            table.add_row(name, format_value(metrics[name]), style=style)
    if wall_time_s is not None:
        table.add_row("wall time", f"{wall_time_s:.1f} s")
    if compile_s is not None:
        table.add_row("compilation (first step)", f"{compile_s:.1f} s")
    return table


def format_value(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
