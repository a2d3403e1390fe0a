"""``config_tree.txt``: the resolved config as a tree, shown as a run starts and kept in its
directory."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.tree import Tree

from runner.platform.console import Display, console


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
