"""Line plots an experiment computed (saved as records: title, axis labels, x, lines, styles),
drawn as one panel per run, side by side for the jobs of a sweep."""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.figures.canvas import add_legend, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
