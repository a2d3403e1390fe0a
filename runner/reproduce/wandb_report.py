"""A reproduction as a W&B Report: each paper's claims table, and beside it the panels of
the runs that decided them, built with W&B's own ``wandb-workspaces`` library.

The report's specification is written to ``<out>/wandb_report.json``; it is saved in W&B
when the reproduction ran online, or later by ``python -m runner.sync <out>``. An
experiment's runs are found by their W&B group and project, as its sweep's
``dashboard.json`` records them; without W&B (``logger=none``) there is no report.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.platform.files import read_json, write_json_atomically
from runner.records.run_log import measured_once
from runner.reproduce.report import HEADER, claim_rows
from runner.sweeps.dashboard import DASHBOARD_FILE

REPORT_FILE = "wandb_report.json"


def experiment_runs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each experiment whose sweep wrote a ``dashboard.json``: its W&B project, group and
    swept settings."""
    found = {}
    for name, run in report["experiments"].items():
        path = Path(run["sweep_dir"]) / DASHBOARD_FILE
        if path.is_file():
            found[name] = read_json(path)
    return found


def build_report(report: dict[str, Any], runs: dict[str, dict[str, Any]]) -> Any:
    """The W&B Report of ``report`` (what ``python -m runner.reproduce`` decided), with a
    grid of panels per experiment of ``runs``."""
    import wandb_workspaces.reports.v2 as wr

    first = next(iter(runs.values()))
    blocks: list[Any] = [wr.MarkdownBlock(f"`{report['about']}`")]
    for paper in report["papers"]:
        blocks += [wr.H2(paper["title"]), wr.MarkdownBlock(claims_table(paper["claims"]))]
        for experiment in dict.fromkeys(claim["experiment"] for claim in paper["claims"]):
            if experiment in runs:
                metrics = [c["metric"] for c in paper["claims"] if c["experiment"] == experiment]
                blocks += [wr.H3(experiment), panel_grid(experiment, runs[experiment], metrics)]
    return wr.Report(
        entity=first.get("entity") or "",
        project=first["project"],
        title=f"Reproduction at budget {report['budget']}",
        description="The papers' claims, checked by python -m runner.reproduce",
        blocks=blocks,
    )


def claims_table(claims: Sequence[dict[str, Any]]) -> str:
    rows = [HEADER, ["---"] * len(HEADER), *claim_rows(claims)]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)


def panel_grid(experiment: str, runs: dict[str, Any], metrics: Sequence[str | None]) -> Any:
    """The experiment's runs (its sweep's group), grouped by what the sweep varied, with a
    line plot of each metric its claims read."""
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(
        entity=runs.get("entity") or "",
        project=runs["project"],
        name=experiment,
        filters=f"Metric('Group') = '{runs['group']}'",
        groupby=[f"config.{key}" for key in runs.get("swept", [])],
    )
    spread = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
    panels = [
        wr.BarPlot(title=metric, metrics=[metric], **spread) if measured_once(metric)
        else wr.LinePlot(title=metric, x="step", y=[metric], **spread)
        for metric in dict.fromkeys(m for m in metrics if m)
    ]  # fmt: skip
    return wr.PanelGrid(runsets=[runset], panels=panels)


def write_wandb_report(report: dict[str, Any], out: Path) -> Path | None:
    """``<out>/wandb_report.json``, unless no experiment logged to W&B."""
    runs = experiment_runs(report)
    if not runs:
        return None
    built = build_report(report, runs)
    record = {"entity": built.entity, "project": built.project,
              "spec": built._to_model().model_dump(by_alias=True, exclude_none=True)}  # fmt: skip
    path = out / REPORT_FILE
    write_json_atomically(record, path)
    return path


def load_report(path: Path, entity: str) -> Any:
    """The report a ``wandb_report.json`` describes, in ``entity`` when it names none."""
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces.reports.v2 import internal

    record = read_json(path)
    built = wr.Report._from_model(internal.ReportViewspec.model_validate(record["spec"]))
    built.entity = record.get("entity") or entity
    built.project = record["project"]
    return built


def ran_online(out: Path) -> bool:
    """Whether the reproduction's runs went to the W&B server (none of them is kept offline)."""
    return any(out.glob("*/wandb/run-*")) and not any(out.glob("**/wandb/offline-run-*"))


def publish_report(report: dict[str, Any], out: Path) -> None:
    """Write the W&B report's file; save it when the runs went online, and say where it is.
    A report the server does not take is a warning: the file keeps it."""
    from runner.platform.errors import first_line
    from runner.sweeps.dashboard import save_in_wandb
    from runner.sweeps.wandb_report import default_entity

    path = write_wandb_report(report, out)
    if path is None:
        return
    if not ran_online(out):
        print(f"reproduce: W&B report in {path}; save it with: python -m runner.sync {out}")
        return
    try:
        url = save_in_wandb(load_report(path, default_entity()))
    except Exception as error:  # whatever the server answers, the reproduction is done
        print(f"reproduce: W&B did not save the report ({first_line(error)}); "
              f"save it later with: python -m runner.sync {out}")  # fmt: skip
        return
    print(f"reproduce: W&B report: {url}")
