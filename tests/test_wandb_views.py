"""What a reviewer opens in W&B: a sweep's saved view (``dashboard.json``), an Optuna
search's panels, a reproduction's report, and ``python -m runner.sync``.

Saving a view or a report needs a W&B server, which the tests cannot reach: everything up
to it is checked here, from the files the real W&B client and ``wandb-workspaces`` wrote.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.reproduce.wandb_report import build_report, load_report
from runner.sweeps.dashboard import load_workspace
from tests.conftest import REPO, cli_environment
from tests.search.test_search import search_cli
from tests.wandb_records import WANDB, read_finished_run

pytestmark = pytest.mark.xdist_group("seeded_sweep")  # its sweep made once, on one worker

LINE, BAR, PARALLEL, IMPORTANCE, MEDIA = (
    "Run History Line Plot", "Bar Chart", "Parallel Coordinates Plot", "Parameter Importance",
    "Media Browser",
)  # fmt: skip


def sections(dashboard: dict) -> list[dict]:
    return dashboard["spec"]["spec"]["section"]["panelBankConfig"]["sections"]


def runset(dashboard: dict) -> dict:
    (only,) = dashboard["spec"]["spec"]["section"]["runSets"]
    return only


def plotted(panel: dict) -> list[str]:
    config = panel["config"]
    if panel["viewType"] == MEDIA:
        return config["mediaKeys"]
    if panel["viewType"] == PARALLEL:
        return [c["accessor"] for c in config["columns"]]
    if panel["viewType"] == IMPORTANCE:
        return [config["targetKey"]]
    return config["metrics"]


def in_wandb(key: str) -> str:
    """How W&B's panels name a nested config key: ``optim.lr`` is ``optim.value.lr``."""
    head, _, rest = key.partition(".")
    return f"{head}.value.{rest}"


def logged_keys(sweep_dir: Path) -> tuple[set[str], set[str]]:
    """What the sweep's job runs logged, as W&B read them back: history keys and summary keys."""
    runs = [read_finished_run(d.parent.parent) for d in sweep_dir.glob("*/wandb/offline-run-*")]
    history = {key.split(".")[0] for run in runs for row in run.history for key in row}
    summary = {key for run in runs for key in run.summary}
    return history, summary


@pytest.fixture(scope="module")
def seeded_sweep(tmp_path_factory, data_root):
    """A basic sweep over two learning rates and two seeds, logging to W&B offline."""
    sweep_dir = tmp_path_factory.mktemp("views") / "sweep"
    private = tmp_path_factory.mktemp("views-tmp")  # the sweep's temporary files, W&B's too
    places = {"TMPDIR": str(private), "WANDB_DATA_DIR": str(private / "wandb-data"),
              "WANDB_CACHE_DIR": str(private / "wandb-cache"),
              "WANDB_CONFIG_DIR": str(private / "wandb-config")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "runner", "-m", "model=stn", "optim.lr=0.1,0.01", "seed=0,1",
         "trainer.max_steps=6", "data.subset=500", f"data.root={data_root}",
         "device=cpu", "logger.mode=offline", f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True, text=True, cwd=REPO, env=cli_environment(**places), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sweep_dir, result


def test_a_sweep_writes_a_view_grouped_by_what_it_varied(seeded_sweep):
    sweep_dir, result = seeded_sweep
    dashboard = json.loads((sweep_dir / "dashboard.json").read_text())
    assert f"save it with: python -m runner.sync {sweep_dir}" in result.stdout

    assert dashboard["swept"] == ["optim.lr"]  # the seed is averaged over, not grouped by
    assert [s["name"] for s in sections(dashboard)] == [
        "objective", "val", "train", "test", "perf", "figures",
    ]  # fmt: skip
    (objective,) = sections(dashboard)[0]["panels"]
    assert (objective["viewType"], plotted(objective)) == (LINE, ["val/acc"])
    assert objective["config"]["xAxis"] == "step"
    assert (objective["config"]["groupAgg"], objective["config"]["groupArea"]) == ("mean", "stddev")
    kinds = {s["name"]: {p["viewType"] for p in s["panels"]} for s in sections(dashboard)}
    assert kinds["test"] == {BAR}  # measured once per run: a bar per setting
    assert kinds["figures"] == {MEDIA}
    assert PARALLEL not in set().union(*kinds.values())  # no search, no search panels

    chosen = runset(dashboard)
    assert chosen["grouping"] == [{"section": "config", "name": in_wandb("optim.lr")}]
    assert chosen["filters"]["filters"] == [
        {"key": {"section": "run", "name": "group"}, "op": "=", "value": str(sweep_dir),
         "disabled": False}
    ]  # fmt: skip

    history, summary = logged_keys(sweep_dir)
    for section in sections(dashboard):
        for panel in section["panels"]:
            for metric in plotted(panel):
                where = summary if panel["viewType"] == BAR else history
                assert metric in where, (section["name"], metric)


def test_the_view_reads_back_as_a_workspace_ready_to_save(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    workspace = load_workspace(sweep_dir / "dashboard.json", entity="someone")
    assert (workspace.entity, workspace.project) == ("someone", "runner")
    assert [section.name for section in workspace.sections][0] == "objective"
    assert [key.name for key in workspace.runset_settings.groupby] == ["optim.lr"]


def test_the_sweeps_wandb_folder_links_every_jobs_run_for_wandb_leet(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    links = [p for p in (sweep_dir / "wandb").iterdir() if p.is_symlink() and "run-" in p.name]
    assert len(links) == 4
    assert {link.resolve().parent.parent.name for link in links} == {"0", "1", "2", "3"}
    printed = subprocess.run(
        [str(WANDB), "leet", "inspect", "--summary", "--json", str(links[0])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json.loads(printed.stdout)["state"] == "finished"


def test_the_sweeps_report_run_says_what_it_is(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    report = read_finished_run(sweep_dir, name="sweep report")
    assert report.job_type == "sweep-report"
    assert report.notes.startswith("python -m runner -m ") and "seed=0,1" in report.notes
    job = read_finished_run(sweep_dir / "0")
    assert (job.job_type, job.group) == ("train", str(sweep_dir))
    assert {"paper:stn", "model:stn"} <= set(job.tags)
    assert job.declared("val/acc")["summary"] == {"max": True}


@pytest.mark.slow
def test_an_optuna_searchs_view_has_its_parallel_coordinates_and_importance(data_root, tmp_path):
    sweep_dir = tmp_path / "search"
    result = search_cli(data_root, sweep_dir, "hydra.sweeper.n_trials=2", "logger=wandb",
                        "logger.mode=offline", "trainer.max_steps=4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    dashboard = json.loads((sweep_dir / "dashboard.json").read_text())
    search = next(s for s in sections(dashboard) if s["name"] == "search")
    kinds = [panel["viewType"] for panel in search["panels"]]
    assert kinds == [PARALLEL, IMPORTANCE]
    parallel, importance = search["panels"]
    columns = plotted(parallel)
    assert columns[-1] == "summary:val/acc.max"  # the objective's best, as the runs summarise it
    assert {f"config:{in_wandb(key)}" for key in dashboard["swept"]} <= set(columns)
    assert set(dashboard["swept"]) == {"optim.lr", "optim.weight_decay"}
    assert importance["config"]["targetKey"] == "val/acc.max"
    _, summary = logged_keys(sweep_dir)
    assert "val/acc" in summary


def test_a_reproductions_report_holds_its_claims_and_the_runs_panels(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    claim = {"id": "lr", "where": "§6", "statement": "a larger step learns faster",
             "experiment": "lr_sweep", "metric": "val/acc", "paper_value": "", "ours": "0.9",
             "verdict": "holds"}  # fmt: skip
    report = {"budget": "smoke", "about": "python -m runner.reproduce paper=adam",
              "papers": [{"paper": "adam", "title": "Adam", "claims": [claim]}],
              "experiments": {"lr_sweep": {"sweep_dir": str(sweep_dir)}}}  # fmt: skip
    runs = {"lr_sweep": json.loads((sweep_dir / "dashboard.json").read_text())}
    built = build_report(report, runs)
    spec = built._to_model().model_dump(by_alias=True, exclude_none=True)
    text = json.dumps(spec, ensure_ascii=False)
    assert "a larger step learns faster" in text and "✅ holds" in text
    assert str(sweep_dir) in text and in_wandb("optim.lr") in text
    path = sweep_dir.parent / "wandb_report.json"
    path.write_text(json.dumps({"entity": "", "project": "runner", "spec": spec}))
    again = load_report(path, entity="someone")
    assert (again.entity, again.title) == ("someone", "Reproduction at budget smoke")


def sync(*arguments: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner.sync", *arguments], capture_output=True, text=True,
        cwd=REPO, env=cli_environment(**variables), timeout=120,
    )  # fmt: skip


def test_sync_lists_every_offline_run_and_skips_those_already_synced(seeded_sweep):
    sweep_dir, _ = seeded_sweep
    found = sweep_dir.glob("**/wandb/offline-run-*")
    folders = sorted((f for f in found if not f.is_symlink()), key=lambda f: f.name)
    marker = next(folders[0].glob("run-*.wandb")).with_suffix(".wandb.synced")
    marker.touch()  # what wandb sync leaves beside a run it has uploaded
    try:
        listed = sync(str(sweep_dir), "--dry-run")
    finally:
        marker.unlink()
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == len(folders) + 1 == 6  # four jobs, the sweep report, the summary
    assert [line.split()[-1] for line in lines[1:-1]] == [
        str(f.relative_to(sweep_dir)) for f in folders[1:]
    ]  # in the order they ran
    assert lines[0].split()[0] == "skipped" and "already synced" in lines[0]
    assert lines[-1] == "1 skipped, 4 to sync of 5 runs"


@pytest.mark.parametrize(
    ("variables", "said", "exit_code"),
    [
        ({}, "W&B has no API key here", 2),
        ({"WANDB_API_KEY": "a" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9"},
         "the W&B server http://127.0.0.1:9 does not answer", 1),
    ],
)  # fmt: skip
def test_sync_that_cannot_reach_wandb_says_why_in_one_line(
    seeded_sweep, tmp_path, variables, said, exit_code, monkeypatch
):
    sweep_dir, _ = seeded_sweep
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no credentials from the home dir
    result = sync(str(sweep_dir), **variables, NETRC=str(tmp_path / "no-netrc"))
    assert result.returncode == exit_code
    assert result.stderr.startswith(f"error: {said}") and result.stderr.count("\n") == 1
    assert "nothing was synced" in result.stderr
    assert not list(sweep_dir.glob("**/*.wandb.synced"))


def test_sync_of_a_directory_without_offline_runs_says_so(tmp_path):
    result = sync(str(tmp_path))
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: no offline W&B runs under")
        and "Traceback" not in result.stderr
    )
