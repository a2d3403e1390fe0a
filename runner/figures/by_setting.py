"""A metric of every job of a sweep against one of its settings: a line per value of other
settings, a panel per value of one more, a row per epoch looked at. The layout of the Adam
paper's Figure 4 (loss against log step size, with and without bias correction)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.figures.canvas import add_legend, log_scale_helps, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LINE_STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class BySetting:
    """A ``sweep.figures`` entry of ``kind: by_setting``.

    ``metric`` (or a list of metrics, a column of panels each) is read at the end of each
    job, or, with ``at_epochs``, at each of those epochs (a row of panels each; an epoch mean
    such as ``train/epoch_loss``). ``lines`` names one or two settings: the first sets a
    line's colour, the second its dash. ``labels`` renames settings in titles and legends
    (``optim.betas.0: β1``).
    """

    metric: str | list[str]
    x: str
    lines: list[str] = field(default_factory=list)
    panels: str | None = None
    at_epochs: list[int] | None = None
    log_x: bool = False
    title: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    kind: str = "by_setting"

    @property
    def metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    @property
    def settings(self) -> list[str]:
        return [self.x, *self.lines, *([self.panels] if self.panels else [])]


@dataclass(frozen=True)
class Point:
    """One job: its settings, and ``value_at(metric, epoch)``: a metric at the end (epoch
    ``None``) or at an epoch."""

    settings: dict[str, Any]
    value_at: Callable[[str, int | None], float | None]


def draw_by_setting(spec: BySetting, points: Sequence[Point], out: Path) -> Path:
    """``out``: :func:`by_setting_figure`."""
    return save_figure(by_setting_figure(spec, points), out)


def by_setting_figure(spec: BySetting, points: Sequence[Point]) -> "Figure":
    """A panel per metric and value of ``spec.panels`` (and a row per epoch of
    ``spec.at_epochs``), with a line per combination of the ``spec.lines`` settings through
    the jobs' values."""
    panel_values = distinct(p.settings.get(spec.panels) for p in points) if spec.panels else [None]
    columns = [(metric, panel) for metric in spec.metrics for panel in panel_values]
    cells = [(epoch, *column) for epoch in distinct(spec.at_epochs or [None]) for column in columns]
    figure, axes = new_figure(len(cells), columns=len(columns), title=spec.title)
    styles = LineStyles.of(spec, points)
    for ax, cell in zip(axes, cells, strict=True):
        draw_cell(ax, spec, points, styles, cell)
    return figure


@dataclass(frozen=True)
class LineStyles:
    """The lines of a figure (a combination of the ``lines`` settings' values each), and
    their colours (the first setting) and dashes (the second)."""

    groups: list[tuple[Any, ...]]
    colours: list[Any]
    dashes: list[Any]

    @classmethod
    def of(cls, spec: BySetting, points: Sequence[Point]) -> "LineStyles":
        lines = spec.lines
        return cls(
            groups=distinct(tuple(p.settings.get(key) for key in lines) for p in points),
            colours=distinct(p.settings.get(lines[0]) for p in points) if lines else [None],
            dashes=distinct(p.settings.get(lines[1]) for p in points) if len(lines) > 1 else [],
        )

    def colour(self, group: tuple[Any, ...]) -> str:
        return f"C{self.colours.index(group[0] if group else None) % 10}"

    def dash(self, group: tuple[Any, ...]) -> str:
        return LINE_STYLES[self.dashes.index(group[1]) % len(LINE_STYLES)] if self.dashes else "-"


def draw_cell(
    ax: "Axes",
    spec: BySetting,
    points: Sequence[Point],
    styles: LineStyles,
    cell: tuple[int | None, str, Any],
) -> None:
    """One panel: ``metric`` (at ``epoch``) against ``spec.x`` for the jobs of ``panel``."""
    epoch, metric, panel = cell
    shown: list[float] = []
    for group in styles.groups:
        xy = line_points(spec, points, group, panel, metric, epoch)
        if not xy:
            continue
        label = " ".join(
            f"{name_of(spec, key)}={value}" for key, value in zip(spec.lines, group, strict=True)
        )
        ax.plot(*zip(*xy, strict=True), styles.dash(group), marker="o", markersize=3,
                color=styles.colour(group), label=label)  # fmt: skip
        shown += [y for _, y in xy]
    heading = [metric] if len(spec.metrics) > 1 else []
    heading += [f"{name_of(spec, spec.panels)}={panel}"] if spec.panels else []
    heading += [f"after epoch {epoch}"] if epoch is not None else []
    ax.set_title(", ".join(heading), fontsize="medium")
    ax.set_xlabel(name_of(spec, spec.x))
    ax.set_ylabel(metric)
    if spec.log_x:  # ticks at the values the sweep took, written as they were
        ax.set_xscale("log")
        ax.minorticks_off()
        ticks = distinct(float(p.settings[spec.x]) for p in points)
        ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    if log_scale_helps(shown):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if spec.lines:
        add_legend(ax, len(styles.groups))


def line_points(
    spec: BySetting,
    points: Sequence[Point],
    group: tuple[Any, ...],
    panel: Any,
    metric: str,
    epoch: int | None,
) -> list[tuple[float, float]]:
    """The (x, value) of the jobs on one line of one panel, sorted by x."""
    members = [
        p for p in points
        if tuple(p.settings.get(key) for key in spec.lines) == group
        and (spec.panels is None or p.settings.get(spec.panels) == panel)
    ]  # fmt: skip
    return sorted(
        (float(p.settings[spec.x]), value)
        for p in members
        if (value := p.value_at(metric, epoch)) is not None
    )


def name_of(spec: BySetting, key: str) -> str:
    return spec.labels.get(key, key)


def distinct(values: Any) -> list[Any]:
    """The values once each: sorted where they can be, else in first-seen order."""
    once = list(dict.fromkeys(values))
    try:
        return sorted(once)
    except TypeError:  # values of different types, or None beside numbers
        return once
