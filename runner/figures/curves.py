"""Learning curves: every metric of one run against steps, and one metric over many runs."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.figures.canvas import (
    LEGEND_LIMIT,
    add_legend,
    log_scale_helps,
    new_figure,
    save_figure,
)
from runner.figures.series import Series, mean_band

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


SPLITS = ("train", "val", "test")


def panel_of(metric: str) -> str:
    """The panel a metric is drawn in: a quantity's training, epoch-mean, validation and test
    values side by side (``train/loss``, ``train/epoch_loss``, ``val/loss`` → ``loss``);
    other families together (``optim/step_ratio_p99``, ``optim/step_ratio_max`` → ``optim``)."""
    family, _, name = metric.partition("/")
    return name.removeprefix("epoch_") if family in SPLITS else family


def draw_run_curves(series: dict[str, Series], out: Path, title: str = "") -> Path | None:
    """``out``: :func:`run_curves_figure` of a run's series; None when it has logged nothing."""
    return save_figure(run_curves_figure(series, title), out) if series else None


def run_curves_figure(series: dict[str, Series], title: str = "") -> "Figure":
    """A panel per quantity a run logged (:func:`panel_of`), its values against steps."""
    panels: dict[str, list[str]] = {}
    for name in series:
        panels.setdefault(panel_of(name), []).append(name)
    figure, axes = new_figure(len(panels), title=title, fixed_margins=True)
    for ax, (quantity, names) in zip(axes, panels.items(), strict=True):
        for name in names:
            draw_series(ax, series[name], name)
        values = [v for name in names for v in series[name].values]
        finish_axes(ax, quantity, values, len(names), title_placed=True)
    return figure


def draw_series(ax: "Axes", series: Series, label: str) -> None:
    """A metric as the run logged it: training windows as a thin line, epoch means and
    validations with markers, a value logged once (a test metric) as a star."""
    if len(series.steps) == 1 or label.startswith("test/"):
        ax.plot(series.steps, series.values, "*", markersize=11, label=label)
    elif label.startswith("val/"):
        ax.plot(series.steps, series.values, "o-", markersize=3.5, label=label)
    elif "/epoch_" in label:
        ax.plot(series.steps, series.values, "s--", markersize=3, linewidth=1, label=label)
    else:
        ax.plot(series.steps, series.values, linewidth=1, label=label)


def finish_axes(
    ax: "Axes", title: str, values: Sequence[float], lines: int, title_placed: bool = False
) -> None:
    """Title, labels, scale, grid and legend of a panel. ``title_placed``: the title sits just
    above the panel, where matplotlib puts it by itself unless it would meet something there;
    finding that out is a tenth of the time to draw the figure of every run's end, whose short
    titles (:func:`panel_of`) cannot meet anything."""
    ax.set_title(title, y=1.0 if title_placed else None)
    ax.set_xlabel("step")
    if log_scale_helps(values):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    add_legend(ax, lines)


@dataclass(frozen=True)
class CurveLine:
    """One line of an overlay: a metric of one run, or the mean of several runs that differ
    only in their seed, drawn with a band of ±1 standard deviation."""

    label: str
    series: tuple[Series, ...]


def draw_overlay(ax: "Axes", lines: Sequence[CurveLine], metric: str) -> None:
    """``metric`` of every line on ``ax``."""
    values: list[float] = []
    for line in lines:
        if len(line.series) == 1:
            draw_series(ax, line.series[0], line.label)
            values += line.series[0].values
            continue
        band = mean_band(line.series)
        low = [m - s for m, s in zip(band.mean, band.std, strict=True)]
        high = [m + s for m, s in zip(band.mean, band.std, strict=True)]
        marker = "o-" if metric.startswith("val/") and len(band.steps) < 50 else "-"
        (drawn,) = ax.plot(band.steps, band.mean, marker, markersize=3, linewidth=1.2,
                           label=f"{line.label} ({band.runs} seeds)")  # fmt: skip
        ax.fill_between(band.steps, low, high, color=drawn.get_color(), alpha=0.2, linewidth=0)
        values += band.mean
    several = any(len(line.series) > 1 for line in lines)
    finish_axes(ax, f"{metric} (mean ± 1 sd over seeds)" if several else metric, values, len(lines))


def draw_overlays(
    metrics: Sequence[str], lines_by_metric: dict[str, list[CurveLine]], out: Path, title: str = ""
) -> Path:
    """``out``: :func:`overlays_figure`."""
    return save_figure(overlays_figure(metrics, lines_by_metric, title), out)


def overlays_figure(
    metrics: Sequence[str], lines_by_metric: dict[str, list[CurveLine]], title: str = ""
) -> "Figure":
    """One panel per metric, each with its lines."""
    figure, axes = new_figure(len(metrics), columns=2, title=title, panel_size=(6.0, 4.0))
    for ax, metric in zip(axes, metrics, strict=True):
        draw_overlay(ax, lines_by_metric[metric], metric)
        count = len(lines_by_metric[metric])
        if count > LEGEND_LIMIT:  # no legend: say how many lines there are
            ax.text(0.99, 0.99, f"{count} runs", ha="right", va="top", transform=ax.transAxes)
    return figure
