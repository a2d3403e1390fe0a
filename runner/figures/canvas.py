"""Blank figures to draw on, and saving them: headless, atomic, never fatal to a run."""

import io
import logging
import math
import textwrap
import threading
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


def load_matplotlib_in_background() -> None:
    """Start importing what :func:`new_figure` and :func:`save_figure` use, in a thread of
    its own, so that a run's last figures do not wait for it: the import is Python work,
    and can run while the main thread is in torch's kernels (a test evaluation)."""

    def load() -> None:
        import matplotlib.backends.backend_agg  # noqa: F401 (the canvas that saves PNGs)
        import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, name="load-matplotlib", daemon=True).start()


def new_figure(
    panels: int,
    columns: int = 3,
    title: str = "",
    panel_size: Sequence[float] = PANEL_SIZE,
    fixed_margins: bool = False,
) -> tuple["Figure", list["Axes"]]:
    """A figure of ``panels`` axes, ``columns`` to a row, in matplotlib's Agg backend.

    ``matplotlib.figure.Figure`` is drawn by the Agg canvas when saved to PNG, without pyplot,
    so no window can open, whatever ``MPLBACKEND`` says. Its layout is matplotlib's
    constrained one, which fits any labels; ``fixed_margins`` sets margins of a fixed size
    instead (:data:`MARGINS`), for a grid of plain panels drawn at the end of every run: it
    halves the time to save it.
    """
    with interrupts_deferred():  # here, not at the top, and whole: it takes half a second
        from matplotlib.figure import Figure

    columns = max(1, min(panels, columns))
    rows = math.ceil(panels / columns)
    width, height = panel_size
    layout = None if fixed_margins else "constrained"
    figure = Figure(figsize=(width * columns, height * rows), layout=layout)
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for unused in axes[panels:]:
        figure.delaxes(unused)
    wrapped = textwrap.fill(title, int(11 * width * columns), break_long_words=False)
    if title:  # wrapped to the figure's width, about 11 characters an inch
        figure.suptitle(wrapped)
    if fixed_margins:
        set_margins(figure, rows, columns, wrapped.count("\n") + 1 if title else 0)
    return figure, axes[:panels]


MARGINS = {"left": 0.8, "right": 0.2, "bottom": 0.5, "top": 0.3, "across": 0.8, "down": 0.75}
"""Inches around and between panels: room for tick labels, axis labels and panel titles."""
TITLE_LINE = 0.3  # inches per line of a figure's title


def set_margins(figure: "Figure", rows: int, columns: int, title_lines: int) -> None:
    """Place the panels of a ``rows`` by ``columns`` grid with the margins of :data:`MARGINS`."""
    width, height = figure.get_size_inches()
    top = MARGINS["top"] + TITLE_LINE * title_lines
    panel_width = (
        width - MARGINS["left"] - MARGINS["right"] - (columns - 1) * MARGINS["across"]
    ) / columns
    panel_height = (height - MARGINS["bottom"] - top - (rows - 1) * MARGINS["down"]) / rows
    figure.subplots_adjust(
        left=MARGINS["left"] / width, right=1 - MARGINS["right"] / width,
        bottom=MARGINS["bottom"] / height, top=1 - top / height,
        wspace=MARGINS["across"] / panel_width, hspace=MARGINS["down"] / panel_height,
    )  # fmt: skip


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
