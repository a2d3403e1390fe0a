"""Tables of a sweep that fit the terminal: no value is ever broken over two lines.

The columns are built as text first. While the table is wider than the terminal (80
columns when the output is not one), the key metrics beyond the objective go first (the
summary files keep them all), then the widest override column's values move to a legend
under the table, each replaced by a letter.
"""

import io
import string
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runner.platform.console import format_value
from runner.sweeps.labels import override_key

LEGEND_WORTHY = 8  # an override column of values this wide or wider may move to the legend


@dataclass(frozen=True)
class Column:
    header: str
    cells: list[str]
    justify: str = "left"
    optional: bool = False  # may be left out to fit (a key metric beside the objective)
    setting: str | None = None  # the override key whose values this column shows


@dataclass
class FittedTable:
    """The table, and the lines to print under it: notes (what every row shares, what was
    left out) and the legend of the values replaced by letters."""

    table: Table
    notes: list[str] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # headers of the columns left out

    def lines_below(self, width: int) -> list[str]:
        """The notes and the legend, wrapped to ``width`` between words, never inside one."""
        return [
            wrapped
            for line in self.notes + [f"  {entry}" for entry in self.legend]
            for wrapped in textwrap.wrap(
                line, width, break_long_words=False, break_on_hyphens=False,
                subsequent_indent="    ",
            )
        ]  # fmt: skip


def override_columns(rows: Sequence[Sequence[str]], shared: Sequence[str]) -> list[Column]:
    """A column per override key that varies over ``rows`` (each a row's overrides), headed
    by the key's last part (``lr`` for ``optim.lr``) unless two keys end alike."""
    keys = list(dict.fromkeys(override_key(o) for row in rows for o in row if o not in shared))
    last_parts = [key.rsplit(".", 1)[-1] for key in keys]
    columns = []
    for key, last in zip(keys, last_parts, strict=True):
        cells = []
        for row in rows:
            values = [o.partition("=")[2] for o in row if override_key(o) == key]
            cells.append(shortened(values[0]) if values else "")
        header = last if last_parts.count(last) == 1 else key
        columns.append(Column(header, cells, setting=key))
    return columns


def shortened(value: str) -> str:
    """A long number cut to 4 significant digits (an Optuna trial's 0.004430375245218269 reads
    0.00443); anything else as it is. The summary files keep every digit."""
    if len(value) <= 8:
        return value
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def show(value: float | None) -> str:
    return "" if value is None else format_value(value)


def natural_width(table: Table) -> int:
    """The width ``table`` takes when nothing in it has to wrap."""
    measuring = Console(width=10_000, file=io.StringIO(), color_system=None)
    measuring.print(table)
    return max((len(line) for line in measuring.file.getvalue().splitlines()), default=0)


def build(title: str, columns: Sequence[Column], row_styles: Sequence[str | None]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold")
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)  # type: ignore[arg-type]
    for number, style in enumerate(row_styles):
        cells = [column.cells[number] for column in columns]
        cells = [escape(c) if col.setting else c for c, col in zip(cells, columns, strict=True)]
        table.add_row(*cells, style=style)  # a setting's value is text, never rich markup
    return table


def fitted(
    title: str,
    columns: Sequence[Column],
    width: int,
    caption: str | None = None,
    row_styles: Sequence[str | None] = (),
) -> FittedTable:
    """A table of ``columns`` no wider than ``width`` if it can be made so (see the module)."""
    columns = list(columns)
    rows = len(columns[0].cells) if columns else 0
    styles = list(row_styles) or [None] * rows
    left_out: list[str] = []
    legend: list[str] = []
    letters = iter(string.ascii_uppercase + string.ascii_lowercase)

    def too_wide() -> bool:
        return natural_width(build(title, columns, styles)) > width

    while too_wide() and any(column.optional for column in columns):
        last_optional = max(i for i, column in enumerate(columns) if column.optional)
        left_out.insert(0, columns.pop(last_optional).header)
    while too_wide():
        candidates = [
            (max(map(len, column.cells)), i)
            for i, column in enumerate(columns)
            if column.setting and max(map(len, column.cells), default=0) >= LEGEND_WORTHY
        ]
        if not candidates:
            break
        _, widest = max(candidates)
        column = columns[widest]
        symbols: dict[str, str] = {}
        for value in column.cells:
            if value and value not in symbols:
                symbols[value] = next(letters, "?")
                legend.append(f"{symbols[value]}: {column.setting}={value}")
        columns[widest] = replace(column, cells=[symbols.get(v, "") for v in column.cells])
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"in sweep_summary.csv too: {', '.join(left_out)}")
    return FittedTable(build(title, columns, styles), notes, legend, left_out)
