"""A paper's table from a sweep: one metric by the settings of two axes (``sweep.table``)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from runner.sweeps.outcomes import JobOutcome


@dataclass(frozen=True)
class CrossTable:
    """One metric by the settings of two axes, as a paper's table lays out its results.

    ``sweep.table`` in the config: ``rows`` (a setting), ``columns`` (one or more settings,
    whose values together name a column, e.g. ``"true cnn"``), ``metric``, and
    ``offset + scale · metric`` as the value shown (100 and -100 turn an accuracy into an
    error in %); ``labels`` renames columns.
    """

    rows: str
    columns: list[str]
    metric: str
    title: str = ""
    scale: float = 1.0
    offset: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    paper: dict[str, dict[str, float]] = field(default_factory=dict)  # row → column → value

    @property
    def settings(self) -> list[str]:
        return [self.rows, *self.columns]

    def cells(self, jobs: Sequence[JobOutcome]) -> dict[tuple[str, str], float | None]:
        """(row, column) → value, over the jobs in job order; None where a job did not complete."""
        cells: dict[tuple[str, str], float | None] = {}
        for job in sorted(jobs, key=lambda job: job.number):
            row = as_label(job.settings.get(self.rows))
            column = " ".join(as_label(job.settings.get(key)) for key in self.columns)
            column = self.labels.get(column, column)
            measured = job.metrics.get(self.metric) if job.status == "completed" else None
            cells[row, column] = None if measured is None else self.offset + self.scale * measured
        return cells

    def rich_table(self, jobs: Sequence[JobOutcome]) -> Table:
        cells = self.cells(jobs)
        rows = list(dict.fromkeys(row for row, _ in cells))
        columns = list(dict.fromkeys(column for _, column in cells))
        table = Table(title=self.title or self.metric, header_style="bold")
        table.add_column(self.rows)
        for column in columns:
            table.add_column(column, justify="right")
        for row in rows:
            values = [cells.get((row, column)) for column in columns]
            table.add_row(row, *("" if v is None else f"{v:.2f}" for v in values))
        return table

    def draw(self, jobs: Sequence[JobOutcome], out: Path) -> Path:
        """The table as a figure, with the paper's value in brackets where ``paper`` has one."""
        from runner.figures.table_image import draw_table

        cells = self.cells(jobs)
        rows = list(dict.fromkeys(row for row, _ in cells))
        columns = list(dict.fromkeys(column for _, column in cells))
        text = []
        for row in rows:
            text.append([])
            for column in columns:
                value, reference = cells.get((row, column)), self.paper.get(row, {}).get(column)
                ours = "–" if value is None else f"{value:.2f}"
                text[-1].append(ours if reference is None else f"{ours} ({reference:g})")
        title = self.title or self.metric
        if self.paper:
            title += "; in brackets, the paper's"
        return draw_table(title, self.rows, rows, columns, text, out)

    def records(self, jobs: Sequence[JobOutcome]) -> list[dict[str, Any]]:
        return [
            {"row": row, "column": column, "value": value}
            for (row, column), value in self.cells(jobs).items()
        ]


def as_label(value: Any) -> str:
    """A setting's value as it is written in YAML and on the command line."""
    return str(value).lower() if isinstance(value, bool) else str(value)
