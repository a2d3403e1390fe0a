"""A sweep's figures, drawn as it ends from what its jobs left on disk (``metrics.jsonl``,
``figures/*.json``, ``summary.json``), into ``<sweep dir>/figures/``:

- ``<metric>.png`` for each key metric: its curve in every job, labelled by the overrides
  that vary; jobs that differ only in their seed make one mean line with a ±1 sd band;
- each entry of ``sweep.figures``: a paper's figure (``kind: curves`` or ``by_setting``);
- ``table.png``: the sweep's ``sweep.table``, when it has one;
- ``<plot>.png`` for each line plot the experiment saves: a panel per job.
"""

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from runner.figures.by_setting import BySetting, Point, draw_by_setting
from runner.figures.canvas import draw_safely
from runner.figures.curves import CurveLine, draw_overlays
from runner.figures.series import Series
from runner.platform.errors import ConfigError
from runner.platform.files import read_json
from runner.records.metrics import read_series
from runner.sweeps.cross_table import CrossTable
from runner.sweeps.labels import label, override_key, shared_overrides, varies_seed, without_seed
from runner.sweeps.outcomes import JobOutcome, key_metrics, main_objective

PANEL_LIMIT = 16  # more jobs than this draw no figure of a panel per job: too small to read


@dataclass(frozen=True)
class Curves:
    """A ``sweep.figures`` entry of ``kind: curves``: ``metric`` against steps, a line per job
    (or per setting, over seeds), as the Adam paper's Figures 1 and 2 draw training cost."""

    metric: str
    title: str = ""
    kind: str = "curves"


@dataclass(frozen=True)
class Ratio:
    """A ``sweep.figures`` entry of ``kind: ratio``: ``metric`` of each job whose ``setting``
    is ``numerator``, divided step by step by that of the job whose ``setting`` is
    ``denominator`` and whose other overrides are the same (two runs from the same seed that
    differ in one choice)."""

    metric: str
    setting: str
    numerator: str
    denominator: str
    title: str = ""
    kind: str = "ratio"

    @property
    def label(self) -> str:
        return f"{self.metric}: {self.numerator} / {self.denominator}"


FIGURE_KINDS = {"curves": Curves, "by_setting": BySetting, "ratio": Ratio}
FigureSpec = Curves | BySetting | Ratio


def figure_specs(entries: dict[str, Any] | None) -> dict[str, FigureSpec]:
    """The ``sweep.figures`` entries, each checked: a :class:`ConfigError` names the first
    that cannot be drawn."""
    specs: dict[str, FigureSpec] = {}
    for name, entry in (entries or {}).items():
        kind = (entry or {}).get("kind")
        if kind not in FIGURE_KINDS:
            raise ConfigError(
                f"sweep.figures.{name}.kind must be one of {', '.join(FIGURE_KINDS)}; got {kind!r}"
            )
        spec_type = FIGURE_KINDS[kind]
        allowed = {f.name for f in fields(spec_type)}
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ConfigError(
                f"sweep.figures.{name} has no setting {unknown[0]!r}; a {kind} figure takes "
                f"{', '.join(sorted(allowed - {'kind'}))}"
            )
        try:
            specs[name] = spec_type(**entry)
        except TypeError:
            required = [
                f.name
                for f in fields(spec_type)
                if f.default is MISSING and f.default_factory is MISSING
            ]
            raise ConfigError(
                f"sweep.figures.{name} needs {', '.join(required)} for a {kind} figure"
            ) from None
    return specs


def file_name(metric: str) -> str:
    """``val_acc.png`` for ``val/acc``."""
    return metric.replace("/", "_") + ".png"


def curve_metrics(jobs: Sequence[JobOutcome], series: dict[int, dict[str, Series]]) -> list[str]:
    """The metrics a sweep draws curves of: its objective, the training loss, and the
    validation side of the key test metrics, as far as the jobs logged them over steps."""
    objective, _ = main_objective(jobs)
    validated = ["val/" + name.split("/", 1)[1] for name in key_metrics(jobs)]
    logged = {name for job_series in series.values() for name in job_series}
    wanted = dict.fromkeys([objective, "train/loss", *validated])
    return [m for m in wanted if m in logged and not m.startswith("test/")]


def curve_lines(
    runs: Sequence[tuple[Sequence[str], dict[str, Series]]], metric: str
) -> list[CurveLine]:
    """A line per run (its overrides, its series) that logged ``metric``, or per setting of
    runs that differ in their seed alone, labelled by the overrides that differ between lines."""
    pooled = varies_seed([overrides for overrides, _ in runs])
    groups: dict[tuple[str, ...], list[Series]] = {}
    for overrides, series in runs:
        if metric in series:
            key = without_seed(overrides) if pooled else tuple(overrides)
            groups.setdefault(key, []).append(series[metric])
    shared = shared_overrides(list(groups)) if len(groups) > 1 else list(next(iter(groups), ()))
    return [
        CurveLine(label(key, shared, "every run"), tuple(members))
        for key, members in groups.items()
    ]


def job_series(
    jobs: Sequence[JobOutcome], series: dict[int, dict[str, Series]]
) -> list[tuple[Sequence[str], dict[str, Series]]]:
    """The jobs' overrides and series, in job order."""
    ordered = sorted(jobs, key=lambda job: job.number)
    return [(job.overrides, series[job.number]) for job in ordered if job.number in series]


Drawing = Callable[[Path], Path]
"""A figure to draw: given where, it draws it there."""


def draw_sweep_figures(
    jobs: Sequence[JobOutcome],
    sweep_dir: Path,
    specs: dict[str, FigureSpec],
    cross_table: CrossTable | None = None,
) -> dict[str, Path]:
    """Every figure of the sweep (see the module), by file name without ``.png``; a figure
    that cannot be drawn is a warning."""
    drawn: dict[str, Path] = {}
    for file, draw in figure_plans(jobs, sweep_dir, specs, cross_table):
        out = sweep_dir / "figures" / file
        if draw_safely(str(out), partial(draw, out)):
            drawn[out.stem] = out
    return drawn


def figure_plans(
    jobs: Sequence[JobOutcome],
    sweep_dir: Path,
    specs: dict[str, FigureSpec],
    cross_table: CrossTable | None,
) -> list[tuple[str, Drawing]]:
    """Each figure of the sweep as (file name, how to draw it), from the jobs' files."""
    from runner.figures.lines import draw_line_panels

    series = {
        job.number: read_series(job.run_dir / "metrics.jsonl")
        for job in jobs
        if (job.run_dir / "metrics.jsonl").exists()
    }
    runs = job_series(jobs, series)
    plans = [
        (file_name(metric), overlay([metric], {metric: curve_lines(runs, metric)}, f"sweep {sweep_dir}"))
        for metric in curve_metrics(jobs, series)
    ]  # fmt: skip
    for name, spec in specs.items():
        plans.append((f"{name}.png", spec_drawing(spec, jobs, series, runs)))
    if cross_table is not None:
        plans.append(("table.png", partial(cross_table.draw, jobs)))
    for name, panels in line_plot_panels(jobs).items():
        title = f"{name}: a panel per job"
        plans.append((f"{name}.png", partial(draw_line_panels, panels, title=title)))
    return plans


def overlay(metrics: list[str], lines: dict[str, list[CurveLine]], title: str) -> Drawing:
    return partial(draw_overlays, metrics, lines, title=title)


def spec_drawing(
    spec: FigureSpec,
    jobs: Sequence[JobOutcome],
    series: dict[int, dict[str, Series]],
    runs: list[tuple[Sequence[str], dict[str, Series]]],
) -> Drawing:
    """How to draw a ``sweep.figures`` entry."""
    if isinstance(spec, Curves):
        return overlay([spec.metric], {spec.metric: curve_lines(runs, spec.metric)}, spec.title)
    if isinstance(spec, Ratio):
        lines = {spec.label: curve_lines(ratio_runs(runs, spec), spec.label)}
        return overlay([spec.label], lines, spec.title)
    return partial(draw_by_setting, spec, by_setting_points(jobs, series, spec))


def ratio_runs(
    runs: Sequence[tuple[Sequence[str], dict[str, Series]]], spec: Ratio
) -> list[tuple[Sequence[str], dict[str, Series]]]:
    """For each pair of runs that differ only in ``spec.setting`` (numerator, denominator),
    their other overrides and the ratio of their ``spec.metric`` at the steps both logged."""
    by_choice: dict[tuple[tuple[str, ...], str], Series] = {}
    for overrides, series in runs:
        chosen = [o.partition("=")[2] for o in overrides if override_key(o) == spec.setting]
        if chosen and spec.metric in series:
            rest = tuple(o for o in overrides if override_key(o) != spec.setting)
            by_choice[rest, chosen[0]] = series[spec.metric]
    ratios = []
    for (rest, choice), top in by_choice.items():
        bottom = by_choice.get((rest, spec.denominator))
        if choice != spec.numerator or bottom is None:
            continue
        below = dict(zip(bottom.steps, bottom.values, strict=True))
        points = [
            (step, value / below[step], epoch)
            for step, value, epoch in zip(top.steps, top.values, top.epochs, strict=True)
            if below.get(step)
        ]
        if points:
            steps, values, epochs = (tuple(column) for column in zip(*points, strict=True))
            ratios.append((rest, {spec.label: Series(steps, values, epochs)}))
    return ratios


def by_setting_points(
    jobs: Sequence[JobOutcome], series: dict[int, dict[str, Series]], spec: BySetting
) -> list[Point]:
    """Each job that completed, with the settings the figure sorts it by and its metrics."""

    def reader(job: JobOutcome) -> Callable[[str, int | None], float | None]:
        def value_at(metric: str, epoch: int | None) -> float | None:
            if epoch is None:
                return job.metrics.get(metric)
            logged = series.get(job.number, {}).get(metric)
            return None if logged is None else logged.at_epoch(epoch)

        return value_at

    return [Point(job.settings, reader(job)) for job in jobs if job.status == "completed"]


def line_plot_panels(jobs: Sequence[JobOutcome]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """For each line plot the jobs saved, a (label, plot) per job, when there are few enough."""
    shared = shared_overrides([job.overrides for job in jobs])
    panels: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for job in sorted(jobs, key=lambda job: job.number):
        title = label(job.overrides, shared, f"job {job.number}")
        for saved in sorted((job.run_dir / "figures").glob("*.json")):
            panels.setdefault(saved.stem, []).append((title, read_json(saved)))
    return {name: found for name, found in panels.items() if len(found) <= PANEL_LIMIT}
