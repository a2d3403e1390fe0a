"""A table of numbers as a figure: a paper's table, reproduced, to look at beside the paper."""

from collections.abc import Sequence
from pathlib import Path

from runner.figures.canvas import new_figure, save_figure


def draw_table(
    title: str,
    corner: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[str]],
    out: Path,
) -> Path:
    """``out``: ``cells[i][j]`` in row ``rows[i]`` and column ``columns[j]``, under ``title``."""
    width = 1.6 + 1.5 * len(columns)
    height = 0.9 + 0.36 * (len(rows) + 1)
    figure, (ax,) = new_figure(1, panel_size=(width, height))
    ax.axis("off")
    table = ax.table(
        cellText=[list(row) for row in cells],
        rowLabels=list(rows),
        colLabels=list(columns),
        cellLoc="center",
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.4)
    ax.set_title(f"{title}\n(rows: {corner})", fontsize="medium")
    return save_figure(figure, out)
