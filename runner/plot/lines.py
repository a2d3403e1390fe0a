"""An experiment's line plots (:class:`experiments.base.LinePlot`): saved as JSON beside the
run's figures, drawn as one panel per run, and side by side for the jobs of a sweep."""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.base import LinePlot
from runner.files import read_json, write_json_atomically
from runner.plot.canvas import add_legend, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def as_record(plot: LinePlot) -> dict[str, Any]:
    return {
        "title": plot.title,
        "x_label": plot.x_label,
        "y_label": plot.y_label,
        "x": plot.x.tolist(),
        "lines": {label: values.tolist() for label, values in plot.lines.items()},
        "styles": plot.styles,
    }


def save_line_plots(plots: dict[str, LinePlot], figures_dir: Path) -> list[Path]:
    """``figures/<name>.json`` for each plot: the numbers, for the figures and for anyone."""
    paths = []
    for name, plot in plots.items():
        paths.append(figures_dir / f"{name}.json")
        write_json_atomically(as_record(plot), paths[-1])
    return paths


def draw_line_panels(
    panels: Sequence[tuple[str, dict[str, Any]]], out: Path, title: str = ""
) -> Path:
    """``out``: :func:`line_panels_figure`."""
    return save_figure(line_panels_figure(panels, title), out)


def line_panels_figure(panels: Sequence[tuple[str, dict[str, Any]]], title: str = "") -> "Figure":
    """One panel per (title, saved plot), each with every line of its plot."""
    figure, axes = new_figure(len(panels), columns=4, title=title)
    for ax, (panel_title, record) in zip(axes, panels, strict=True):
        for label, values in record["lines"].items():
            ax.plot(record["x"], values, record["styles"].get(label, "-"), label=label)
        ax.set_title(panel_title or record["title"], fontsize="medium")
        ax.set_xlabel(record["x_label"])
        ax.set_ylabel(record["y_label"])
        ax.grid(alpha=0.3)
        add_legend(ax, len(record["lines"]))
    return figure


def draw_run_line_plots(figures_dir: Path) -> list[Path]:
    """``figures/<name>.png`` for every line plot the run saved."""
    drawn = []
    for saved in sorted(figures_dir.glob("*.json")):
        record = read_json(saved)
        drawn.append(draw_line_panels([(record["title"], record)], saved.with_suffix(".png")))
    return drawn
