"""The GAN through the runner: config, CLI run, figures, Parzen metric, W&B."""

import json

import pytest
import torch

from runner.run.build import build, build_optimizer_factory
from tests.conftest import compose_config
from tests.wandb_records import read_offline_run

QUICK_PARZEN = [
    "model.parzen_samples=500",
    "model.parzen_val_images=200",
    "model.parzen_batch_size=250",
]


def test_model_gan_chooses_its_optimizer_and_objective_unless_told_otherwise(make_config):
    cfg = compose_config("model=gan")
    assert cfg.optim.betas == [0.5, 0.999] and cfg.optim.lr == 2e-4
    assert cfg.objective.metric == "val/parzen_ll" and cfg.objective.mode == "max"
    sgd = make_config("model=gan", "optim=sgd")
    assert sgd.optim._target_ == "torch.optim.SGD"


def test_the_discriminator_can_have_its_own_optimizer(make_config):
    cfg = make_config(
        "model=gan", "model.d_optim={_target_:torch.optim.SGD,_partial_:true,lr:0.05}"
    )
    experiment = build(cfg.model, "model")
    optimizers = experiment.configure_optimizers(build_optimizer_factory(cfg.optim))
    assert isinstance(optimizers["discriminator"], torch.optim.SGD)
    assert optimizers["discriminator"].param_groups[0]["lr"] == 0.05
    assert not isinstance(optimizers["generator"], torch.optim.SGD)


@pytest.mark.slow  # the GAN through the Python API: test_limitations, test_gan; the CLI: test_cli
def test_a_gan_run_writes_its_samples_and_the_parzen_likelihood(cli, tmp_path):
    run_dir = tmp_path / "run"
    result = cli(run_dir, "model=gan", "optim=adam_gan", "trainer.max_steps=40", *QUICK_PARZEN,
                 "logger=wandb", "logger.mode=offline")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["objective"]["metric"] == "val/parzen_ll"
    for key in (
        "val/parzen_ll",
        "test/parzen_ll",
        "test/parzen_se",
        "train/d_loss",
        "train/g_loss",
    ):
        assert isinstance(summary["metrics"][key], float), key
    for figure in ("samples", "nearest", "interpolations"):  # and the paper's Figures 2 and 3
        assert (run_dir / f"figures/{figure}.png").is_file(), figure
    wandb_run = read_offline_run(run_dir)
    assert wandb_run.summary["objective"] == summary["objective"]["value"]
    for figure in ("samples", "nearest", "interpolations"):
        assert any(key.startswith(f"figures/{figure}") for row in wandb_run.history for key in row)
    assert wandb_run.summary["test/parzen_ll"] == summary["metrics"]["test/parzen_ll"]
    assert wandb_run.declared("val/parzen_ll")["summary"] == {"max": True}


@pytest.mark.slow  # the theorem on the model alone: tests/experiments/test_gan.py
def test_the_theory_experiment_approaches_the_optimal_discriminator(make_config, tmp_path):
    from runner.train import run

    cfg = make_config("experiment=gan_theory", "model.model_mean=0.5", "trainer.max_steps=1500", "optim=adam",
                      "optim.lr=0.003", "data.batch_size=64")  # fmt: skip
    error = run(cfg, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert error < 0.05  # mean |D − D*| over the bulk of both densities
    assert abs(summary["val/value_at_optimum"] - summary["val/theorem_2"]) < 1e-6
    assert abs(summary["val/value"] - summary["val/value_at_optimum"]) < 0.01
    plot = json.loads((tmp_path / "figures/discriminator.json").read_text())  # Theorem 1, drawn
    trained, optimal = plot["lines"]["D (trained)"], plot["lines"]["D*"]
    assert max(abs(d - o) for d, o in zip(trained, optimal, strict=True)) < 0.15
    assert (tmp_path / "figures/discriminator.png").stat().st_size > 0


@pytest.mark.slow  # the same experiment through the Python API: the test above
def test_model_gan_theory_alone_runs_and_is_judged_by_its_distance_to_the_optimum(cli, tmp_path):
    result = cli(tmp_path / "run", "model=gan_theory", "trainer.max_steps=30")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["objective"]["metric"] == "val/d_error" and summary["objective"]["mode"] == "min"
    assert summary["objective"]["value"] == summary["metrics"]["val/d_error"]
