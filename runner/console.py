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
    """Print the config tree and save the same text in the run directory."""
    tree = config_tree(config)
    console.print(tree)
    with save_to.open("w", encoding="utf-8") as file:
        Console(file=file, width=120, color_system=None).print(tree)


def training_progress() -> Progress:
    """A progress bar with the latest training loss, the throughput and the time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metric]}"),
        TextColumn("{task.fields[speed]} samples/s"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )


def summary_table(metrics: Mapping[str, float], objective: str, wall_time_s: float) -> Table:
    """Final metrics, the objective first and highlighted."""
    table = Table(title="summary", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    names = [objective] + sorted(name for name in metrics if name != objective)
    for name in names:
        if name in metrics:
            style = "bold green" if name == objective else None
            table.add_row(name, format_value(metrics[name]), style=style)
    table.add_row("wall time", f"{wall_time_s:.1f} s")
    return table


def format_value(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
