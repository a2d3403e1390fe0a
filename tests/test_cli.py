"""The command line end to end: what a user types, what lands in the run directory."""

import json

import pytest
import torch

from runner.metrics import read_metrics
from tests.conftest import run_cli
from tests.wandb_records import read_offline_run


def test_help_lists_every_config_group():
    result = run_cli("--help")
    assert result.returncode == 0
    for line in (
        "data: digits, fashion_mnist, mnist",
        "device: auto, cpu, cuda",
        "logger: none, wandb",
        "model: stn",
        "optim: adam, sgd",
    ):
        assert line in result.stdout


def test_cfg_job_prints_the_whole_config():
    result = run_cli("--cfg", "job", "optim=adam", "trainer.epochs=3")
    assert result.returncode == 0
    for text in (
        "seed: 0",
        "resume: false",
        "epochs: 3",
        "max_steps: null",
        "eval_every:",
        "batch_size:",
        "root:",
        "_target_: torch.optim.Adam",
        "betas:",
        "mode: auto",
        "metric: val/acc",
    ):
        assert text in result.stdout


def test_a_run_writes_every_artefact_and_its_wandb_run(cli, tmp_path):
    run_dir = tmp_path / "run"
    result = cli(run_dir, "logger=wandb", "logger.mode=offline")
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout and "test/acc" in result.stdout

    for path in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "metrics.jsonl",
        "summary.json",
        "config_tree.txt",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "figures/stn.png",
    ):
        assert (run_dir / path).is_file(), path

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["objective"]["metric"] == "val/acc"
    assert summary["objective"]["value"] == summary["metrics"]["val/acc"]
    assert summary["metrics"]["test/acc"] > 0.5  # ten classes: chance is 0.1
    assert summary["wall_time_s"] > 0
    assert summary["versions"]["torch"] == torch.__version__.split("+")[0]
    assert "git_commit" in summary

    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == sorted(r["step"] for r in records)
    assert {"train/loss", "train/acc", "val/acc", "test/acc"} <= {k for r in records for k in r}

    checkpoint = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert checkpoint["position"] == {"step": summary["steps"], "epoch": 2, "batch": 0}
    assert set(checkpoint) >= {"experiment", "optimizers", "rng", "position"}

    wandb_run = read_offline_run(run_dir)
    assert wandb_run.exit_code == 0
    assert wandb_run.config["optim"]["lr"] == 0.001  # the config arrives resolved:
    assert wandb_run.config["model"]["image_size"] == 28  # ${data.image_size} became its value
    logged = {row["_step"]: row for row in wandb_run.history}
    for record in records:
        for key, value in record.items():
            if key not in ("step",) and not key.startswith("perf/"):
                assert logged[record["step"]][key] == pytest.approx(value), key
    assert wandb_run.summary["objective"] == pytest.approx(summary["objective"]["value"])
    assert any(key.startswith("figures/stn") for row in wandb_run.history for key in row)


def test_a_rerun_in_the_same_directory_without_resume_is_refused(cli, tmp_path):
    run_dir = tmp_path / "run"
    assert cli(run_dir, "trainer.max_steps=5").returncode == 0
    again = cli(run_dir, "trainer.max_steps=5")
    assert again.returncode == 2
    assert "resume=true" in again.stderr
    assert (run_dir / "checkpoints/last.pt").exists()


def test_resume_of_a_completed_run_changes_nothing(cli, tmp_path):
    run_dir = tmp_path / "run"
    assert cli(run_dir, "trainer.max_steps=5").returncode == 0
    before = (run_dir / "metrics.jsonl").read_text()
    again = cli(run_dir, "trainer.max_steps=5", "resume=true")
    assert again.returncode == 0
    assert "already completed" in again.stdout
    assert (run_dir / "metrics.jsonl").read_text() == before
