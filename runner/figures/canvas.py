"""Blank figures to draw on, and saving them: headless, atomic, never fatal to a run."""

import io
import logging
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.platform.errors import first_line
from runner.platform.files import write_bytes_atomically
from runner.platform.signals import interrupts_deferred

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PANEL_SIZE = (4.4, 3.2)  # inches per panel
DPI = 110
LEGEND_LIMIT = 12  # more lines than this get no legend: it would hide the plot


def new_figure(
    panels: int, columns: int = 3, title: str = "", panel_size: Sequence[float] = PANEL_SIZE
) -> tuple["Figure", list["Axes"]]:
    """A figure of ``panels`` axes, ``columns`` to a row, in matplotlib's Agg backend.

    ``matplotlib.figure.Figure`` is drawn by the Agg canvas when saved to PNG, without pyplot,
    so no window can open, whatever ``MPLBACKEND`` says.
    """
    with interrupts_deferred():  # here, not at the top, and whole: it takes half a second
        from matplotlib.figure import Figure

    columns = max(1, min(panels, columns))
    rows = math.ceil(panels / columns)
    width, height = panel_size
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for unused in axes[panels:]:
        figure.delaxes(unused)
    if title:  # wrapped to the figure's width, about 11 characters an inch
        figure.suptitle(textwrap.fill(title, int(11 * width * columns), break_long_words=False))
    return figure, axes[:panels]


FORMATS = ("png", "pdf", "svg")


def save_figure(figure: "Figure", path: Path) -> Path:
    """Write ``figure`` to ``path`` (PNG, or PDF or SVG by the suffix), replacing any earlier
    version in one step."""
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: a figure is written as .png, .pdf or .svg")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=suffix, dpi=DPI)
    write_bytes_atomically(buffer.getvalue(), path)
    return path


def log_scale_helps(values: Sequence[float]) -> bool:
    """Whether a y axis of ``values`` reads better in log scale: all positive, spanning more
    than a factor of 20 (a loss falling from 2.3 to 0.05)."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 20


def add_legend(axes: "Axes", lines: int) -> None:
    """A legend, in small type, unless there are too many lines for one to help."""
    if 0 < lines <= LEGEND_LIMIT:
        axes.legend(fontsize="small", frameon=False)


def draw_safely(what: str, draw: Callable[[], object]) -> bool:
    """Draw a figure that is a view of results already saved: if it fails (a value matplotlib
    cannot place, a full disk), warn in one line and go on. Return whether it was drawn."""
    try:
        draw()
    except Exception as error:  # a figure must never cost the run or sweep that made it
        log.warning("could not draw %s (%s: %s)", what, type(error).__name__, first_line(error))
        return False
    return True
