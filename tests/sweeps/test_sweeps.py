"""Sweeps through the real CLI: every launcher, failures, the report, Optuna, and resume."""

import base64
import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from runner.run.settings import settings_of
from runner.search import OPTUNA_SWEEPER
from runner.search.trial import objectives_of
from runner.sweeps.report import JobOutcome, best_first, common_overrides
from runner.sweeps.threads import available_cores, parallel_jobs, threads_per_job
from runner.train import CONF_DIR
from tests.wandb_records import read_finished_run

DIVERGES = "1e30"  # an SGD learning rate whose loss is nan within five steps


def sweep(cli, tmp_path: Path, *overrides: str):
    """Run ``python -m runner -m OVERRIDES`` on the small job; return the result and the sweep dir."""
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", f"hydra.sweep.dir={sweep_dir}", *overrides)
    return result, sweep_dir


def sweep_summary(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep_summary.json").read_text())


def job_summary(sweep_dir: Path, job: int) -> dict:
    return json.loads((sweep_dir / str(job) / "summary.json").read_text())


def assert_best_first(jobs: list[dict]) -> None:
    values = [job["objective"]["value"] for job in jobs]
    assert values == sorted(values, reverse=jobs[0]["objective"]["mode"] == "max")


def test_a_four_job_sweep_writes_four_job_dirs_and_the_summary_best_first(cli, tmp_path):
    result, sweep_dir = sweep(cli, tmp_path, "optim=adam,sgd", "seed=0,1", "trainer.max_steps=5")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == [
        "0",
        "1",
        "2",
        "3",
        "figures",
    ]
    assert all(job_summary(sweep_dir, job)["status"] == "completed" for job in range(4))

    summary = sweep_summary(sweep_dir)
    assert summary["counts"] == {"completed": 4}
    assert sorted(job["job"] for job in summary["jobs"]) == [0, 1, 2, 3]
    assert_best_first(summary["jobs"])
    best = summary["jobs"][0]
    assert best["objective"]["value"] == job_summary(sweep_dir, best["job"])["objective"]["value"]

    with (sweep_dir / "sweep_summary.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [int(row["job"]) for row in rows] == [job["job"] for job in summary["jobs"]]
    assert {"status", "overrides", "value", "wall_time_s", "test/acc", "val/acc"} <= set(rows[0])
    assert "sweep: 4 jobs (4 completed), best first" in result.stdout

    # Seeds: each optimizer's two seeds pooled, the best mean first, in both files.
    seeds = summary["seeds"]["settings"]
    assert [s["jobs"] for s in seeds] in ([[0, 1], [2, 3]], [[2, 3], [0, 1]])
    for setting in seeds:
        values = [job_summary(sweep_dir, n)["objective"]["value"] for n in setting["jobs"]]
        objective = setting["objective"]
        assert objective["n"] == 2 and objective["mean"] == pytest.approx(sum(values) / 2)
        assert objective["std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
        low, high = objective["ci95"]
        assert low == pytest.approx(
            objective["mean"] - 12.7062 * objective["std"] / 2**0.5, abs=1e-3
        )
        assert low <= objective["mean"] <= high
    assert summary["seeds"]["best"] == seeds[0]
    assert seeds[0]["objective"]["mean"] >= seeds[1]["objective"]["mean"]
    means = {row["job"]: float(row["objective mean"]) for row in rows}
    assert (
        means["0"]
        == means["1"]
        == pytest.approx(next(s for s in seeds if 0 in s["jobs"])["objective"]["mean"])
    )
    assert "over seeds: 2 settings, best mean first" in result.stdout

    # The console: one line as each job ends, no config trees, a table in 80 columns.
    ended = [line for line in result.stdout.splitlines() if line.startswith("job ")]
    assert sorted(line.split(":")[0] for line in ended) == [f"job {n} completed" for n in range(4)]
    assert "val/acc" in ended[0] and "(max)" in ended[0]
    assert "├──" not in result.stdout and "summary" not in result.stdout.split("sweep: 4 jobs (")[0]
    tables = result.stdout.split("sweep: 4 jobs (")[1].split("sweep summary:")[0]
    assert max(len(line) for line in tables.splitlines()) <= 80  # the paths after may be longer
    assert (sweep_dir / "0/config_tree.txt").read_text().startswith("config")

    # Figures: the key metrics' curves, a mean line and band per optimizer; each job's own.
    assert {p.name for p in (sweep_dir / "figures").iterdir()} >= {"val_acc.png", "train_loss.png"}
    assert all((sweep_dir / f"{n}/figures/curves.png").stat().st_size > 0 for n in range(4))


@pytest.mark.slow
def test_a_joblib_sweep_runs_jobs_side_by_side_each_its_own_wandb_run(cli, tmp_path):
    result, sweep_dir = sweep(
        cli, tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optim=adam,sgd",
        "seed=1", "trainer.max_steps=5", "logger=wandb", "logger.mode=offline",
        "logger.log_checkpoints=true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sweep_summary(sweep_dir)["counts"] == {"completed": 2}

    # The sweep's own W&B run: its figures and its table, grouped with the jobs.
    report = read_finished_run(sweep_dir)
    assert report.name == "sweep report" and report.group == str(sweep_dir)
    logged = set().union(*report.history)
    assert {"figures/val_acc._type", "figures/train_loss._type", "sweep._type"} <= logged
    assert f"wandb sync {sweep_dir}/wandb/offline-run-" in result.stdout

    runs = [read_finished_run(sweep_dir / str(job)) for job in range(2)]
    run_files = {path.name for path in sweep_dir.glob("*/wandb/offline-run-*/run-*.wandb")}
    assert len(run_files) == 2  # two runs, none shared
    assert all(run.exit_code == 0 and run.group == str(sweep_dir) for run in runs)
    overrides = [OmegaConf.load(sweep_dir / f"{job}/.hydra/overrides.yaml") for job in range(2)]
    for run, job_overrides in zip(runs, overrides, strict=True):
        optimizer = next(o for o in job_overrides if o.startswith("optim="))
        assert optimizer in run.tags
        assert run.config["choices"]["optim"] == optimizer.removeprefix("optim=")
        assert f"seed={run.config['seed']}" in job_overrides
        assert run.config["device"]["threads"] == max(1, available_cores() // 2)
        # a job's curves are drawn after the sweep, not by the job: in its files, not in W&B
        assert not any("figures/curves._type" in row for row in run.history)
    assert all((sweep_dir / f"{job}/figures/curves.png").stat().st_size > 0 for job in range(2))
    assert "jobs' curves: " in result.stdout and "(2 drawn)" in result.stdout

    # Each job's checkpoints as versions of its model artifact, for wandb sync to upload.
    for number, run in enumerate(runs):
        checkpoints = sweep_dir / str(number) / "checkpoints"
        by_alias = {next(iter(a["aliases"] - {"latest"}), "latest"): a for a in run.artifacts}
        assert set(by_alias) == {"best", "latest"}
        for alias, file in (("best", "best.pt"), ("latest", "last.pt")):
            artifact = by_alias[alias]
            assert artifact["name"].startswith("model-") and artifact["type"] == "model"
            digest = base64.b64encode(hashlib.md5((checkpoints / file).read_bytes()).digest())
            assert artifact["files"] == {file: digest.decode()}
            assert artifact["metadata"]["objective"] == "val/acc"
        best = torch.load(checkpoints / "best.pt", weights_only=True)
        assert by_alias["best"]["metadata"]["value"] == pytest.approx(best["value"])
        assert by_alias["latest"]["metadata"]["step"] == 5


def test_a_failing_job_leaves_the_others_complete_and_the_summary_says_which(cli, tmp_path):
    result, sweep_dir = sweep(
        cli, tmp_path, "optim=sgd", f"optim.lr=0.01,{DIVERGES}", "trainer.max_steps=10",
        "trainer.log_every=5",
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "1 of 2 jobs did not complete" in result.stderr

    assert job_summary(sweep_dir, 0)["status"] == "completed"
    failed = job_summary(sweep_dir, 1)
    assert failed["status"] == "failed" and "diverged" in failed["error"]
    assert "FloatingPointError" in (sweep_dir / "1/traceback.txt").read_text()

    jobs = sweep_summary(sweep_dir)["jobs"]
    assert [(job["job"], job["status"]) for job in jobs] == [(0, "completed"), (1, "failed")]
    (learning_rate,) = [o for o in jobs[1]["overrides"] if o.startswith("optim.lr=")]
    assert float(learning_rate.partition("=")[2]) == float(DIVERGES)


@pytest.mark.slow  # a failing job is recorded and the others run: the test above
def test_a_job_with_a_bad_setting_fails_alone_in_one_line(cli, tmp_path):
    """A model's own settings reach its constructor only in the job (the runner's are
    checked before any job: tests/sweeps/test_sweep_values.py)."""
    result, sweep_dir = sweep(
        cli, tmp_path, "model=mlp", "model.hidden_sizes=[32],[0]", "trainer.max_steps=3"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: job 1 (" in result.stderr and "model.hidden_sizes=[0]" in result.stderr
    assert "model.hidden_sizes must be a non-empty list of positive integers" in result.stderr
    assert job_summary(sweep_dir, 0)["status"] == "completed"
    assert job_summary(sweep_dir, 1)["error"].startswith("ConfigError: model.hidden_sizes")


@pytest.mark.slow
def test_max_failures_skips_the_jobs_after_the_limit(cli, tmp_path):
    result, sweep_dir = sweep(
        cli, tmp_path, "optim=sgd", f"optim.lr={DIVERGES},0.01,0.02", "sweep.max_failures=1",
        "trainer.max_steps=10", "trainer.log_every=5",
    )  # fmt: skip
    assert result.returncode == 1
    statuses = [job_summary(sweep_dir, job)["status"] for job in range(3)]
    assert statuses == ["failed", "skipped", "skipped"]
    assert not (sweep_dir / "1/metrics.jsonl").exists()  # skipped: never started
    assert "sweep.max_failures=1" in job_summary(sweep_dir, 2)["error"]


@pytest.mark.slow
def test_an_optuna_search_returns_its_best_value(cli, tmp_path):
    result, sweep_dir = sweep(
        cli, tmp_path, "search=stn", "hydra.sweeper.n_trials=3", "trainer.max_steps=5"
    )
    assert result.returncode == 0, result.stderr
    found = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    jobs = sweep_summary(sweep_dir)["jobs"]
    assert len(jobs) == 3
    assert_best_first(jobs)
    assert found.best_value == pytest.approx(jobs[0]["objective"]["value"])  # maximised val/acc
    # optim=adam on the command line fixes that parameter; Optuna searches the other two
    assert set(found.best_params) == {"optim.lr", "data.batch_size"}
    lrs = {
        float(o.partition("=")[2])
        for job in jobs
        for o in job["overrides"]
        if o.startswith("optim.lr=")
    }
    assert len(lrs) == 3 and all(1e-4 <= lr <= 1e-1 for lr in lrs)


@pytest.mark.slow
def test_a_submitit_local_sweep_completes(cli, tmp_path):
    result, sweep_dir = sweep(
        cli, tmp_path, "hydra/launcher=submitit_local", "optim=adam,sgd", "trainer.max_steps=3"
    )
    assert result.returncode == 0, result.stderr
    assert sweep_summary(sweep_dir)["counts"] == {"completed": 2}
    assert (sweep_dir / ".submitit").is_dir()
    # submitit's local launcher starts both jobs at once: each takes one core
    assert "threads: 1" in (sweep_dir / "0/config_tree.txt").read_text()


@pytest.mark.slow
def test_resuming_a_sweep_skips_completed_jobs_and_resumes_the_rest(cli, tmp_path):
    # 2000 training samples are 31 full batches of 64 an epoch: job 1 crashes in its second
    # epoch, after the checkpoint of the first.
    command = [
        "model._target_=tests.crashing.CrashingSTN", "+model.crash_at_step=1000,40",
        "trainer.epochs=2",
    ]  # fmt: skip
    first, sweep_dir = sweep(cli, tmp_path, *command)
    assert first.returncode == 1
    assert [job_summary(sweep_dir, job)["status"] for job in (0, 1)] == ["completed", "failed"]
    completed_before = (sweep_dir / "0/summary.json").read_text()

    again, _ = sweep(cli, tmp_path, *command, "resume=true")
    assert again.returncode == 0, again.stderr
    assert f"{sweep_dir / '0'} already completed" in again.stdout
    assert (sweep_dir / "0/summary.json").read_text() == completed_before
    resumed = job_summary(sweep_dir, 1)
    assert resumed["status"] == "completed" and resumed["steps"] == 62
    assert "resuming from" in again.stdout and "at step 31" in again.stdout
    assert sweep_summary(sweep_dir)["counts"] == {"completed": 2}


def sweep_jobs(experiment: str) -> list[list[str]]:
    """The overrides of each job ``-m experiment=NAME`` launches, as Hydra's sweeper expands them."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = config.hydra.sweeper.params or {}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    jobs: list[list[str]] = [[f"experiment={experiment}"]]
    for override in parsed:
        values = list(override.sweep_string_iterator())
        jobs = [[*job, f"{override.key_or_group}={value}"] for job in jobs for value in values]
    return jobs


@pytest.mark.parametrize(
    "experiment, expected_jobs",
    [("adam_logreg", 3), ("adam_mlp", 4),
     pytest.param("adam_bias_correction", 60, marks=pytest.mark.slow),  # 60 configs to compose
     ("gan_theory", 4), ("vae_paper", 5), ("stn_table1", 16),
     pytest.param("gan_js_saturation", 14, marks=pytest.mark.slow),
     ("gan_generator_loss", 2), ("vae_active_units", 4)],
)  # fmt: skip
def test_every_paper_experiment_is_a_sweep_of_valid_jobs(experiment, expected_jobs):
    assert {path.stem for path in (CONF_DIR / "experiment").glob("*.yaml")} >= {experiment}
    jobs = sweep_jobs(experiment)
    assert len(jobs) == expected_jobs
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        configs = [compose("config", overrides=job) for job in jobs]
    resolved = [settings_of(config).config for config in configs]
    assert len({json.dumps(config, sort_keys=True) for config in resolved}) == expected_jobs


def test_every_experiment_config_is_covered():
    covered = {"adam_logreg", "adam_mlp", "adam_bias_correction", "gan_theory", "vae_paper",
               "stn_table1", "gan_js_saturation", "gan_generator_loss", "vae_active_units",
               "vae_figure2", "adam_step_bound", "adam_cnn"}  # fmt: skip
    # vae_figure2 and adam_step_bound run in tests/reproduce, adam_cnn in tests/data
    assert {path.stem for path in (CONF_DIR / "experiment").glob("*.yaml")} <= covered


def outcome(number: int, status: str, value: float | None, mode: str = "max") -> JobOutcome:
    return JobOutcome(number, [f"seed={number}", "device=cpu"], status, Path(str(number)),
                      objective="val/acc", mode=mode, value=value)  # fmt: skip


def test_best_first_orders_by_the_objective_then_puts_unfinished_jobs_last():
    jobs = [
        outcome(0, "failed", None), outcome(1, "completed", 0.5), outcome(2, "completed", float("nan")),
        outcome(3, "completed", 0.9), outcome(4, "skipped", None),
    ]  # fmt: skip
    assert [job.number for job in best_first(jobs)] == [3, 1, 2, 0, 4]
    minimised = [outcome(0, "completed", 0.5, "min"), outcome(1, "completed", 0.1, "min")]
    assert [job.number for job in best_first(minimised)] == [1, 0]
    assert common_overrides(jobs) == ["device=cpu"]


@pytest.mark.parametrize(
    "launcher, cores, jobs",
    [({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 16, 1),
     ({"n_jobs": -1}, 16, 16), ({"n_jobs": -2}, 16, 15), ({"n_jobs": 4}, 16, 4),
     ({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"}, 8, 8)],
)  # fmt: skip
def test_parallel_jobs_follows_each_launcher(launcher, cores, jobs):
    assert parallel_jobs(launcher, cores) == jobs


def test_a_job_gets_its_share_of_the_cores():
    cores = available_cores()
    assert threads_per_job({"n_jobs": 1}) is None  # one job at a time keeps torch's default
    assert threads_per_job({"n_jobs": cores}) == 1
    assert threads_per_job({"n_jobs": 2}) == (max(1, cores // 2) if cores > 1 else None)
    assert threads_per_job({"cpus_per_task": 3, "n_jobs": 1}) == 3


def hydra_config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True).hydra


def test_the_slurm_example_asks_for_a_gpu_cpus_and_time_and_threads_follow_it():
    launcher = hydra_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu").launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 240)
    assert threads_per_job(OmegaConf.to_container(launcher)) == launcher.cpus_per_task == 8


@pytest.mark.parametrize("search", ["stn", "logreg", "mlp", "gan", "vae"])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_each_search_optimises_the_objective_in_its_direction(search, mode):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose(
            "config", overrides=[f"search={search}", f"objective.mode={mode}"],
            return_hydra_config=True,
        )  # fmt: skip
    sweeper = OmegaConf.to_container(config.hydra.sweeper)
    assert sweeper["_target_"] == OPTUNA_SWEEPER
    assert sweeper["params"] and sweeper["n_trials"] == 20 and sweeper["pruner"] == "none"
    objective = OmegaConf.to_container(config.objective)
    assert objectives_of(sweeper, objective) == {config.objective.metric: mode}
