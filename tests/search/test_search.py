"""Optuna searches (hydra/sweeper=optuna) on the real Optuna and real SQLite: the search space,
persistent and resumed studies, pruning from inside a job, several workers, and one-line
errors."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from runner.platform.errors import ConfigError
from runner.platform.files import read_json
from runner.run import run
from runner.search.results import report_results
from runner.search.space import as_overrides, grid_of, parse_search
from runner.search.study import (
    StudySettings,
    budgeted_trials,
    heartbeats_without_warnings,
    make_sampler,
    open_storage,
    open_study,
    requeue,
    tell,
    trial_seed,
)
from runner.search.trial import TrialLink, tell_outcome
from tests.conftest import REPO, SMALL_DATA, wait_until
from tests.wandb_records import read_finished_run

LOGREG_SPACE = {
    "optim.lr": FloatDistribution(1e-4, 1e-1, log=True),
    "optim.weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
}
QUICK = ["model=logreg", "trainer.max_steps=20", "trainer.log_every=10"]


def settings_for(url: str, **changes) -> StudySettings:
    return StudySettings(
        **{"storage": url, "study_name": "s", "objectives": {"val/acc": "max"}, **changes}
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def ask(study: optuna.Study, space: dict) -> optuna.Trial:
    with heartbeats_without_warnings():
        return study.ask(fixed_distributions=space)


def load(url: str, name: str = "s") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def search_cli(data_root: Path, sweep_dir: Path, *overrides: str, **popen):
    """``python -m runner -m search=logreg ...`` on a small job (a Popen when ``popen`` is
    given); a ``search=`` or ``hydra/sweeper=`` among ``overrides`` replaces the search."""
    search = [o for o in overrides if o.startswith(("search=", "hydra/sweeper="))]
    arguments = [
        sys.executable, "-m", "runner", "-m", *(search or ["search=logreg"]), *QUICK, *SMALL_DATA,
        f"data.root={data_root}", "device=cpu", "logger=none", f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.n_jobs=1", *(o for o in overrides if o not in search),
    ]  # fmt: skip
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(REPO)}
    options = dict(cwd=REPO, env=env, stdin=subprocess.DEVNULL, text=True)
    if popen:
        return subprocess.Popen(arguments, **options, **popen)
    return subprocess.run(arguments, capture_output=True, timeout=300, **options)


@pytest.fixture
def postgresql_url():
    """A PostgreSQL server of the test's own (Debian's ``postgresql`` package), started here
    and stopped by its PID; skipped where the server or the Python driver is missing."""
    pytest.importorskip("psycopg", reason="PostgreSQL's driver: pip install 'runner[postgres]'")
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = binaries[-1].parent
    # Not under pytest's temporary directories, which only root may enter: /tmp itself.
    data_dir = Path(tempfile.mkdtemp(prefix="runner-pg-", dir="/tmp"))
    try:
        yield from postgres_server(bin_dir, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def postgres_server(bin_dir: Path, data_dir: Path):
    """initdb in ``data_dir``, then the server on a free port until the test is done."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:  # the server refuses to run as root
        shutil.chown(data_dir, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data_dir, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [*as_user, bin_dir / "postgres", "-D", data_dir, "-p", str(port), "-k", data_dir,
         "-h", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(
            lambda: subprocess.run(
                [bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode == 0,
            timeout_s=30, what="PostgreSQL to accept connections",
        )  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        pid_file = data_dir / "postmaster.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # a fast shutdown
        else:
            server.kill()
        server.wait(timeout=60)


# The search space --------------------------------------------------------------------------


def test_the_command_line_syntax_becomes_optunas_distributions():
    space, fixed = parse_search(
        [
            "optim.lr=tag(log, interval(1e-4, 1e-1))",
            "model.dropout=interval(0.0, 0.5)",
            "data.batch_size=choice(32, 64)",
            "trainer.epochs=range(1, 9, step=3)",
            "optim.momentum=range(0, 1, step=0.25)",
            "optim=choice(sgd, adam)",
            "optim=adam",  # a later fixed value replaces the searched one
            "seed=1",
        ]
    )
    assert space == {
        "optim.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.dropout": FloatDistribution(0.0, 0.5),
        "data.batch_size": CategoricalDistribution([32, 64]),
        "trainer.epochs": IntDistribution(1, 7, step=3),
        "optim.momentum": FloatDistribution(0.0, 0.75, step=0.25),
    }
    assert fixed == ["optim=adam", "seed=1"]
    assert grid_of({"trainer.epochs": space["trainer.epochs"]}) == {"trainer.epochs": [1, 4, 7]}
    assert as_overrides({"a": True, "b": 0.5, "c": "adam"}) == ["a=true", "b=0.5", "c=adam"]
    with pytest.raises(ConfigError, match="optim.lr is continuous"):
        grid_of(space)
    with pytest.raises(ConfigError, match="must start above 0"):
        parse_search(["optim.lr=tag(log, interval(0.0, 1.0))"])


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid", "cmaes", "nsga2"])
def test_every_sampler_proposes_trials_in_the_space(sampler, tmp_path):
    space = {"optim.lr": CategoricalDistribution([0.1, 0.01, 0.001])}
    if sampler in ("tpe", "random", "cmaes"):
        space["optim.weight_decay"] = LOGREG_SPACE["optim.weight_decay"]
    objectives = {"val/acc": "max", "wall_time_s": "min"} if sampler == "nsga2" else None
    settings = settings_for(
        sqlite_url(tmp_path / "o.db"), sampler=sampler, seed=0,
        **({"objectives": objectives} if objectives else {}),
    )  # fmt: skip
    study = open_study(settings, space)
    for n in range(3):
        study.sampler = make_sampler(settings, 0 if sampler == "grid" else n, space)
        trial = ask(study, space)
        assert trial.params["optim.lr"] in (0.1, 0.01, 0.001)
        values = [trial.params["optim.lr"]] * len(settings.objectives)
        tell(study, trial, TrialState.COMPLETE, values)
    if sampler == "grid":  # each point of the grid once
        assert sorted(t.params["optim.lr"] for t in study.trials) == [0.001, 0.01, 0.1]


# Studies in their storage --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pruner": "medain"}, "hydra.sweeper.pruner=medain is not a pruner; use one of: none, median, hyperband"),
        ({"sampler": "bayes"}, "hydra.sweeper.sampler=bayes is not a sampler"),
        ({"objectives": {"val/acc": "up"}}, "optimised to max or min"),
        ({"objectives": {"val/acc": "max", "wall_time_s": "min"}, "pruner": "median"}, "single-objective"),
        ({"heartbeat_interval": 5, "grace_period": 5}, "grace_period longer"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_are_refused_in_one_line(changes, message):
    with pytest.raises(ConfigError, match=message) as refused:
        settings_for("sqlite://", **changes)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////no/such/directory/optuna.db",
        "postgresql://nobody@127.0.0.1:9/none",
        "nosuchdb://x",
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_line(url):
    with pytest.raises(ConfigError) as refused:
        open_storage(url)
    assert str(refused.value).startswith(f"hydra.sweeper.storage={url}: cannot open it: ")
    assert "\n" not in str(refused.value)


def test_each_trial_has_a_seed_of_its_own_and_a_bad_sampler_option_is_one_line():
    seeds = [trial_seed(0, number) for number in range(100)]
    assert len(set(seeds)) == 100 and seeds == [trial_seed(0, n) for n in range(100)]
    assert trial_seed(None, 3) is None
    for sampler in ("tpe", "random", "cmaes", "nsga2"):
        settings = settings_for("sqlite://", sampler=sampler, sampler_options={"nosuch": 1})
        with pytest.raises(ConfigError, match="hydra.sweeper.sampler_options: .*nosuch"):
            make_sampler(settings, 0, LOGREG_SPACE)


def test_a_study_continues_only_the_search_it_began(tmp_path):
    settings = settings_for(sqlite_url(tmp_path / "o.db"))
    open_study(settings, LOGREG_SPACE)
    assert open_study(settings, dict(LOGREG_SPACE)).study_name == "s"  # the same: continued
    narrower = {**LOGREG_SPACE, "optim.lr": FloatDistribution(1e-3, 1e-1, log=True)}
    with pytest.raises(ConfigError, match=r"has another search space \(optim.lr differs\)"):
        open_study(settings, narrower)
    with pytest.raises(ConfigError, match="has another objectives"):
        open_study(settings_for(settings.storage, objectives={"val/loss": "min"}), LOGREG_SPACE)


def test_an_interrupted_trial_is_queued_again_and_only_its_retry_counts(tmp_path):
    url = sqlite_url(tmp_path / "o.db")
    study = open_study(settings_for(url), LOGREG_SPACE)
    first = ask(study, LOGREG_SPACE)
    study.tell(first, 0.5)
    interrupted = ask(study, LOGREG_SPACE)
    run_dir = tmp_path / "sweep" / "1"
    run_dir.mkdir(parents=True)
    interrupted.set_user_attr("run_dir", str(run_dir))
    requeue(study, study._storage.get_trial(interrupted._trial_id))

    retry = ask(study, LOGREG_SPACE)  # pops the queued trial
    assert retry.number == 2 and retry.params == interrupted.params
    assert [t.number for t in budgeted_trials(study)] == [0, 2]
    assert read_json(run_dir / "summary.json")["status"] == "requeued"


def test_a_job_tells_its_trial_how_it_ended(tmp_path):
    url = sqlite_url(tmp_path / "o.db")
    settings = settings_for(url, objectives={"val/acc": "max", "wall_time_s": "min"})
    study = open_study(settings, LOGREG_SPACE)
    endings = [
        {"status": "completed", "metrics": {"val/acc": 0.9}, "wall_time_s": 3.0},
        {"status": "pruned", "metrics": {"val/acc": 0.2}},
        {"status": "failed", "error": "ValueError: nan"},
        {"status": "completed", "metrics": {"val/acc": "nan"}, "wall_time_s": 1.0},
    ]
    for number, summary in enumerate(endings):
        ask(study, LOGREG_SPACE)
        tell_outcome(TrialLink(url, "s", number, settings.objectives), summary)
    trials = load(url).trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL
    ]  # fmt: skip
    assert trials[0].values == [0.9, 3.0]


# Pruning from inside a job -----------------------------------------------------------------


def study_with_a_perfect_trial(url: str, space: dict) -> optuna.Study:
    """A study whose one finished trial had val/acc 1.0 at every epoch: the median pruner
    (after one trial) stops any real trial at its first validation."""
    study = open_study(settings_for(url, pruner="median"), space)
    params = {key: d.low if hasattr(d, "low") else d.choices[0] for key, d in space.items()}
    study.add_trial(
        optuna.trial.create_trial(
            params=params, distributions=space, value=1.0,
            intermediate_values={epoch: 1.0 for epoch in range(1, 6)},
        )
    )  # fmt: skip
    return study


def test_a_pruned_run_stops_at_a_validation_keeps_its_checkpoint_and_skips_the_test(
    make_config, tmp_path
):
    url = sqlite_url(tmp_path / "o.db")
    study = study_with_a_perfect_trial(url, LOGREG_SPACE)
    trial = ask(study, LOGREG_SPACE)
    link = TrialLink(url, "s", trial.number, {"val/acc": "max"}, "median", {"n_startup_trials": 1})
    cfg = make_config("model=logreg", "trainer.epochs=3")
    run_dir = tmp_path / "run"
    value = run(cfg, run_dir, link)

    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "pruned" and summary["stop_reason"] == "pruned"
    assert summary["steps"] == 2000 // 64  # one epoch of the 2,000 training images
    assert not any(name.startswith("test/") for name in summary["metrics"])
    assert value == summary["objective"]["value"] == summary["metrics"]["val/acc"]
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert load(url).trials[-1].intermediate_values == {1: value}


@pytest.mark.slow
def test_a_search_with_the_median_pruner_records_the_pruned_trial_everywhere(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    url = sqlite_url(tmp_path / "study.db")
    space, _ = parse_search(
        [
            "optim.lr=tag(log, interval(1e-4, 1e-1))",
            "optim.weight_decay=tag(log, interval(1e-6, 1e-2))",
        ]
    )
    study_with_a_perfect_trial(url, space)
    result = search_cli(
        data_root, sweep_dir, f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=s",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.pruner=median",
        "+hydra.sweeper.pruner_options.n_startup_trials=1", "trainer.max_steps=null",
        "trainer.epochs=2", "logger=wandb", "logger.mode=offline",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (job,) = json.loads((sweep_dir / "sweep_summary.json").read_text())["jobs"]
    assert (job["job"], job["status"]) == (1, "pruned")  # job 1 is trial 1
    assert [t.state for t in load(url).trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert read_finished_run(sweep_dir / "1").tags[-1] == "pruned"
    found = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert found.trials == {"complete": 1, "pruned": 1} and found.best_trial == 0
    assert (sweep_dir / "optimization_history.png").stat().st_size > 0
    study_run = read_finished_run(sweep_dir, name="study s")  # the search's W&B run, in their group
    assert (study_run.group, study_run.exit_code) == (str(sweep_dir), 0)
    assert study_run.history[0]["figures/optimization_history.format"] == "png"
    assert study_run.summary["best_trial"] == 0


def test_a_multi_objective_search_reports_its_pareto_front(tmp_path):
    objectives = {"val/acc": "max", "wall_time_s": "min"}
    settings = settings_for(sqlite_url(tmp_path / "o.db"), objectives=objectives)
    study = open_study(settings, LOGREG_SPACE)
    for lr, acc, seconds in [(1e-3, 0.9, 10.0), (1e-2, 0.8, 5.0), (1e-1, 0.7, 20.0)]:
        params = {"optim.lr": lr, "optim.weight_decay": 1e-4}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=LOGREG_SPACE, values=[acc, seconds]
            )
        )
    results = report_results(study, settings, tmp_path, {"mode": "disabled"})
    front = {solution["trial"]: solution["values"] for solution in results["pareto_front"]}
    assert front == {
        0: {"val/acc": 0.9, "wall_time_s": 10.0},
        1: {"val/acc": 0.8, "wall_time_s": 5.0},
    }
    assert (tmp_path / "pareto_front.png").stat().st_size > 0
    written = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert len(written.pareto_front) == 2 and written.trials == {"complete": 3}


def job_dirs(sweep_dir: Path) -> list[str]:
    """The sweep's job directories (the report adds figures/ beside them)."""
    return [p.name for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]


# Whole searches through the command line ----------------------------------------------------


@pytest.mark.slow
def test_a_search_persists_and_a_rerun_continues_its_numbers_and_directories(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    first = search_cli(data_root, sweep_dir, "hydra.sweeper.n_trials=1")
    assert first.returncode == 0, first.stderr
    again = search_cli(data_root, sweep_dir, "hydra.sweeper.n_trials=3", "resume=true")
    assert again.returncode == 0, again.stderr

    study = load(sqlite_url(sweep_dir / "optuna.db"), "search")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert sorted(job_dirs(sweep_dir)) == ["0", "1", "2"]
    first_job = (sweep_dir / "0" / "summary.json").stat().st_mtime
    assert all(first_job < (sweep_dir / str(n) / "summary.json").stat().st_mtime for n in (1, 2))
    jobs = json.loads((sweep_dir / "sweep_summary.json").read_text())["jobs"]
    assert sorted(job["job"] for job in jobs) == [0, 1, 2]  # the report covers the whole study
    for trial in study.trials:  # job N ran trial N's parameters
        overrides = OmegaConf.load(sweep_dir / str(trial.number) / ".hydra/overrides.yaml")
        assert f"optim.lr={trial.params['optim.lr']}" in overrides
    found = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert found.best_value == max(t.value for t in study.trials)
    assert set(found.importances["val/acc"]) == {"optim.lr", "optim.weight_decay"}


def test_a_bad_pruner_is_one_line_and_writes_nothing(data_root, tmp_path):
    result = search_cli(data_root, tmp_path / "sweep", "hydra.sweeper.pruner=medain")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: hydra.sweeper.pruner=medain is not a pruner; use one of: none, median, hyperband"
    )
    assert not (tmp_path / "sweep").exists()


@pytest.mark.slow  # the Pareto front through the Python API: test_a_multi_objective_search_...
def test_several_objectives_from_the_command_line_give_a_pareto_front(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = search_cli(
        data_root, sweep_dir, "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler=nsga2",
        "hydra.sweeper.objectives={val/acc: max, wall_time_s: min}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    study = load(sqlite_url(sweep_dir / "optuna.db"), "search")
    assert [len(t.values) for t in study.trials] == [2, 2]
    found = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert {s.trial for s in found.pareto_front} <= {0, 1} and found.pareto_front
    assert (sweep_dir / "pareto_front.png").exists()


def test_an_objective_the_model_does_not_measure_fails_the_job_before_training(
    make_config, tmp_path
):
    link = TrialLink(sqlite_url(tmp_path / "o.db"), "s", 0, {"val/accuracy": "max"})
    cfg = make_config("model=logreg")
    with pytest.raises(
        ConfigError, match="hydra.sweeper.objectives: 'val/accuracy' is not measured"
    ):
        run(cfg, tmp_path / "run", link)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_search_killed_halfway_and_rerun_ends_with_exactly_n_trials(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    beats = ["hydra.sweeper.n_trials=3", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2"]  # fmt: skip
    killed = search_cli(
        data_root, sweep_dir, *beats, "trainer.max_steps=200",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(
        (sweep_dir / "1" / "metrics.jsonl").exists, 120, "trial 1 to train"
    )  # trial 1 is training
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    rerun = search_cli(data_root, sweep_dir, *beats, "trainer.max_steps=200")
    assert rerun.returncode == 0, rerun.stderr
    study = load(sqlite_url(sweep_dir / "optuna.db"), "search")
    states = {t.number: t.state for t in study.trials}
    assert list(states.values()).count(TrialState.COMPLETE) == 3
    assert states[1] == TrialState.FAIL  # interrupted, and its parameters run again
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 1]
    assert retry.params == study.trials[1].params and retry.state == TrialState.COMPLETE
    run_dirs = [t.user_attrs["run_dir"] for t in study.trials]
    assert len(set(run_dirs)) == len(run_dirs) == 4  # one directory per trial, none shared
    assert read_json(sweep_dir / "1" / "summary.json")["status"] == "requeued"
    counts = json.loads((sweep_dir / "sweep_summary.json").read_text())["counts"]
    assert counts == {"completed": 3, "requeued": 1}


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_workers_share_one_study_without_running_a_trial_twice(
    database, data_root, tmp_path, request
):
    sweep_dir = tmp_path / "sweep"
    if database == "sqlite":
        url = sqlite_url(tmp_path / "shared.db")
    else:
        url = request.getfixturevalue("postgresql_url")
    shared = [
        "hydra/sweeper=optuna", "optim=adam", "optim.lr=tag(log, interval(1e-4, 1e-1))",
        "data.batch_size=choice(32, 64)",  # a search space on the command line
        f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=shared", "hydra.sweeper.n_trials=4",
    ]  # fmt: skip
    workers = [
        search_cli(data_root, sweep_dir, *shared, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in outputs]
    study = load(url, "shared")
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 4
    assert len(study.trials) - 4 == sum(
        bool(t.system_attrs.get("runner:surplus")) for t in study.trials
    )
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len({tuple(t.params.items()) for t in completed}) == 4
    assert all(set(t.params) == {"optim.lr", "data.batch_size"} for t in completed)
    assert sorted(int(name) for name in job_dirs(sweep_dir)) == sorted(t.number for t in completed)


@pytest.mark.slow
def test_ctrl_c_requeues_the_running_trial_at_once(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    stopped = search_cli(
        data_root, sweep_dir, "hydra.sweeper.n_trials=2", "trainer.max_steps=300",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_until((sweep_dir / "1" / "metrics.jsonl").exists, 120, "trial 1 to train")
    stopped.send_signal(signal.SIGINT)
    _, stderr = stopped.communicate(timeout=120)
    assert stopped.returncode == 130, stderr
    assert f"resume=true hydra.sweep.dir={sweep_dir}" in stderr
    study = load(sqlite_url(sweep_dir / "optuna.db"), "search")
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING
    ]  # fmt: skip
    assert read_json(sweep_dir / "1" / "summary.json")["status"] == "requeued"

    rerun = search_cli(data_root, sweep_dir, "hydra.sweeper.n_trials=2", "trainer.max_steps=300")
    assert rerun.returncode == 0, rerun.stderr
    states = [t.state for t in load(sqlite_url(sweep_dir / "optuna.db"), "search").trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
