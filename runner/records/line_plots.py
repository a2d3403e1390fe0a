"""An experiment's line plots (:class:`experiments.base.LinePlot`): saved as JSON beside the
run's figures at each validation, drawn from there when the run ends."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.figures.lines import draw_line_panels
from runner.platform.files import read_json, write_json_atomically

if TYPE_CHECKING:  # drawing them needs no torch (runner.records.figure_worker)
    from experiments.base import LinePlot


def as_record(plot: "LinePlot") -> dict[str, Any]:
    return {
        "title": plot.title,
        "x_label": plot.x_label,
        "y_label": plot.y_label,
        "x": plot.x.tolist(),
        "lines": {label: values.tolist() for label, values in plot.lines.items()},
        "styles": plot.styles,
    }


def save_line_plots(plots: "dict[str, LinePlot]", figures_dir: Path) -> list[Path]:
    """``figures/<name>.json`` for each plot: the numbers, for the figures and for anyone."""
    paths = []
    for name, plot in plots.items():
        paths.append(figures_dir / f"{name}.json")
        write_json_atomically(as_record(plot), paths[-1])
    return paths


def draw_run_line_plots(figures_dir: Path) -> list[Path]:
    """``figures/<name>.png`` for every line plot the run saved."""
    drawn = []
    for saved in sorted(figures_dir.glob("*.json")):
        record = read_json(saved)
        drawn.append(draw_line_panels([(record["title"], record)], saved.with_suffix(".png")))
    return drawn
