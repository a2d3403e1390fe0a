"""A sweep's saved view in W&B, built with W&B's own ``wandb-workspaces`` library.

The view is planned from what the sweep's jobs left in their directories (the keys they
varied, the metrics they logged, the figures they drew), so every panel plots something the
runs have. Its specification is written to ``<sweep dir>/dashboard.json`` whatever the mode;
saving it needs a W&B server (:func:`save_in_wandb`), done at the sweep's end when online, or
later by ``python -m runner.sync`` from that file.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.platform.files import read_json, write_json_atomically
from runner.records.metrics import read_metrics
from runner.records.run_log import measured_once
from runner.sweeps.labels import override_key
from runner.sweeps.outcomes import JobOutcome, main_objective

DASHBOARD_FILE = "dashboard.json"
FAMILIES = ("val/", "train/", "test/", "perf/")  # the view's sections after the objective
FIGURES = "figures/"
SEARCH_SECTION = "search"


@dataclass(frozen=True)
class SweepView:
    """What a sweep's view shows: its runs (the W&B ``group`` of its jobs), the objective,
    the settings the jobs varied (``swept``: config keys, the seed apart), the metrics the
    runs logged as history (``plotted``) and once per run (``once``), their figures."""

    entity: str
    project: str
    group: str
    name: str
    objective: str | None
    mode: str | None
    swept: tuple[str, ...]
    seeds: bool
    search: bool
    plotted: tuple[str, ...]
    once: tuple[str, ...]
    figures: tuple[str, ...]


def plan_view(
    jobs: Sequence[JobOutcome],
    logger: dict[str, Any],
    sweep_dir: Path,
    search: bool,
    jobs_drew_curves: bool = False,
) -> SweepView:
    """The view of the sweep in ``sweep_dir`` whose ``jobs`` ran with the ``logger`` section;
    ``search``: the sweep is an Optuna search; ``jobs_drew_curves``: each job drew (and
    logged) its curves and line plots itself, rather than the sweep after it."""
    objective, mode = main_objective(jobs)
    keys = swept_keys(jobs)
    logged = logged_metrics(jobs)
    return SweepView(
        entity=logger.get("entity") or "",
        project=logger.get("project") or "runner",
        group=logger.get("group") or str(sweep_dir),
        name=f"sweep {sweep_dir.name}"[:128],
        objective=objective,
        mode=mode,
        swept=tuple(config_key(key) for key in keys if key != "seed"),
        seeds="seed" in keys,
        search=search,
        plotted=tuple(name for name in logged if not measured_once(name)),
        once=tuple(name for name in logged if measured_once(name)),
        figures=figure_names(jobs, jobs_drew_curves),
    )


def swept_keys(jobs: Sequence[JobOutcome]) -> list[str]:
    """The keys whose values differ between the jobs, in the order the jobs name them."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for override in job.overrides:
            key = override_key(override).lstrip("+~")
            if not key.startswith("hydra."):
                values.setdefault(key, set()).add(override.partition("=")[2])
    counts = {key: len(seen) for key, seen in values.items()}
    return [key for key, count in counts.items() if count > 1 or missing_somewhere(key, jobs)]


def missing_somewhere(key: str, jobs: Sequence[JobOutcome]) -> bool:
    return any(all(override_key(o).lstrip("+~") != key for o in job.overrides) for job in jobs)


def config_key(key: str) -> str:
    """Where a swept key sits in a run's W&B config: a config group's option (``optim``) is
    under ``choices``; a setting (``optim.lr``) is where it is."""
    return key if "." in key else f"choices.{key}"


def logged_metrics(jobs: Sequence[JobOutcome]) -> tuple[str, ...]:
    """Every metric name the jobs logged: those of their final metrics, and the wall-clock
    ones (``perf/``) of the first job that left its metrics file."""
    names = {name for job in jobs for name in job.metrics}
    for job in jobs:
        path = job.run_dir / "metrics.jsonl"
        if path.is_file():
            names |= {key for record in read_metrics(path) for key in record}
            break
    return tuple(sorted(names - {"step", "epoch"}))


def figure_names(jobs: Sequence[JobOutcome], with_curves: bool) -> tuple[str, ...]:
    """The figures the jobs logged (``figures/<name>``), read from the first job that drew
    any: those the experiment drew at its validations, and ``with_curves``, the curves and
    line plots drawn from the run's files (a line plot keeps its data beside it as JSON)."""
    for job in jobs:
        folder = job.run_dir / "figures"
        drawn = sorted(
            path for path in folder.glob("*.png")
            if with_curves or (path.stem != "curves" and not path.with_suffix(".json").exists())
        )  # fmt: skip
        if drawn:
            return tuple(f"{FIGURES}{path.stem}" for path in drawn)
    return ()


def build_workspace(view: SweepView) -> Any:
    """The ``wandb_workspaces`` workspace of ``view``: the objective's section first, then a
    section per metric family, the search's panels for an Optuna search, the figures; the
    runs of the sweep's group only, grouped by the swept settings (seeds averaged, their
    spread drawn)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    sections = [ws.Section(name="objective", panels=objective_panels(view), is_open=True)]
    for family in FAMILIES:
        panels = family_panels(view, family)
        if panels:
            sections.append(ws.Section(name=family.rstrip("/"), panels=panels, is_open=True))
    if view.search and view.objective:
        sections.append(ws.Section(name=SEARCH_SECTION, panels=search_panels(view), is_open=True))
    if view.figures:
        media = wr.MediaBrowser(title="figures", media_keys=list(view.figures), gallery_axis="step")
        sections.append(ws.Section(name="figures", panels=[media], is_open=True))
    return ws.Workspace(
        entity=view.entity,
        project=view.project,
        name=view.name,
        sections=sections,
        settings=ws.WorkspaceSettings(x_axis="step"),
        runset_settings=ws.RunsetSettings(
            filters=[ws.Metric("Group") == view.group],
            groupby=[ws.Config(key) for key in view.swept],
        ),
    )


def objective_panels(view: SweepView) -> list[Any]:
    if view.objective is None:
        return []
    if view.objective in view.once:
        return [bar_plot(view, view.objective)]
    return [line_plot(view, view.objective)]


def family_panels(view: SweepView, family: str) -> list[Any]:
    """A line plot of each metric of ``family`` against the step; a bar per group for the
    metrics measured once per run."""
    lines = [line_plot(view, name) for name in view.plotted if name.startswith(family)]
    bars = [bar_plot(view, name) for name in view.once if name.startswith(family)]
    return [*lines, *bars]


def line_plot(view: SweepView, metric: str) -> Any:
    import wandb_workspaces.reports.v2 as wr

    grouped = grouping(view)
    return wr.LinePlot(title=metric, x="step", y=[metric], smoothing_factor=0, **grouped)


def bar_plot(view: SweepView, metric: str) -> Any:
    import wandb_workspaces.reports.v2 as wr

    return wr.BarPlot(title=metric, metrics=[metric], orientation="h", **grouping(view))


def grouping(view: SweepView) -> dict[str, Any]:
    """Runs of one setting drawn as one line, their mean, with the spread over seeds."""
    if not view.swept and not view.seeds:
        return {}
    return {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}


def search_panels(view: SweepView) -> list[Any]:
    """An Optuna search's parallel coordinates (each searched setting, then the objective's
    best value) and each setting's importance for the objective."""
    import wandb_workspaces.reports.v2 as wr

    best = summary_key(view.objective or "", view)
    columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(key)) for key in view.swept]
    columns.append(wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(best)))
    return [
        wr.ParallelCoordinatesPlot(title="search", columns=columns),
        wr.ParameterImportancePlot(with_respect_to=best),
    ]


def summary_key(metric: str, view: SweepView) -> str:
    """Where the runs' summary keeps ``metric``: its best value (``val/acc.max``) for the
    objective, which the runs summarise by it, else the value itself."""
    if metric == view.objective and metric in view.plotted and view.mode:
        return f"{metric}.{view.mode}"
    return metric


def write_dashboard(view: SweepView, sweep_dir: Path) -> Path:
    """``<sweep dir>/dashboard.json``: the view's specification as W&B stores it, with where
    it goes, for :func:`save_in_wandb` now or ``python -m runner.sync`` later."""
    workspace = build_workspace(view)
    path = sweep_dir / DASHBOARD_FILE
    record = {
        "entity": view.entity,
        "project": view.project,
        "group": view.group,
        "swept": list(view.swept),
        "spec": workspace._spec,  # the library's own serialisation of the view
    }
    write_json_atomically(record, path)
    return path


def load_workspace(path: Path, entity: str) -> Any:
    """The workspace a ``dashboard.json`` describes, in ``entity`` when it names none."""
    from wandb_workspaces.workspaces import Workspace, internal

    record = read_json(path)
    workspace = Workspace._from_model(internal.View.model_validate(record["spec"]))
    workspace.entity = record.get("entity") or entity
    workspace.project = record["project"]
    return workspace


def save_in_wandb(built: Any) -> str:
    """Save a workspace view or a report (``wandb_workspaces``) to the W&B server; its URL.
    The one step that needs a server, and the one the tests cannot reach."""
    return built.save().url
