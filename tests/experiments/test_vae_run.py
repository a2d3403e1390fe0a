"""The VAE through the runner: config, CLI run, figures, metrics, W&B, and the §6.4 sweep."""

import json

import pytest

from tests.conftest import SMALL_DATA, compose_config
from tests.wandb_records import read_offline_run

QUICK = ["model.importance_samples=5", "trainer.max_steps=60"]


def test_model_vae_chooses_adam_and_the_elbo_unless_told_otherwise():
    cfg = compose_config("model=vae")
    assert cfg.optim._target_ == "experiments.adam.Adam"
    assert cfg.objective.metric == "val/elbo" and cfg.objective.mode == "max"
    assert compose_config("model=vae", "optim=sgd").optim._target_ == "torch.optim.SGD"
    paper = compose_config("experiment=vae_paper")
    assert paper.model.hidden_sizes == [500] and paper.model.activation == "tanh"
    assert paper.optim._target_ == "torch.optim.Adagrad" and paper.data.batch_size == 100


def test_a_vae_run_writes_its_figures_and_metrics(cli, tmp_path):
    run_dir = tmp_path / "run"
    result = cli(
        run_dir, "model=vae", "model.latent_dim=2", *QUICK, "logger=wandb", "logger.mode=offline"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("train/elbo", "train/kl", "val/elbo", "test/elbo", "test/kl", "test/reconstruction",
                "test/log_likelihood"):  # fmt: skip
        assert isinstance(summary["metrics"][key], float), key
    assert summary["metrics"]["test/log_likelihood"] >= summary["metrics"]["test/elbo"] - 1.0
    for figure in ("reconstructions", "samples", "manifold"):
        assert (run_dir / f"figures/{figure}.png").is_file(), figure
    wandb_run = read_offline_run(run_dir)
    assert wandb_run.summary["objective"] == summary["objective"]["value"]
    logged = {key for row in wandb_run.history for key in row}
    assert "train/elbo" in logged
    assert wandb_run.summary["test/log_likelihood"] == summary["metrics"]["test/log_likelihood"]
    assert any(key.startswith("figures/manifold") for key in logged)


@pytest.mark.slow  # its 60 jobs are composed and checked in test_sweeps; Figure 4 in test_plots
def test_the_bias_correction_ablation_runs_as_a_sweep(cli, data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = cli(
        tmp_path / "unused", "-m", "experiment=adam_bias_correction", f"hydra.sweep.dir={sweep_dir}",
        *SMALL_DATA, f"data.root={data_root}", "logger=none", "device=cpu", "trainer.epochs=1",
        "model.hidden_sizes=[32]", "model.latent_dim=4",
        "optim.betas=[0.9,0.9999]", "optim.lr=1e-3",  # two jobs of the 60: correction on and off
        small=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert len(summaries) == 2
    assert all(s["status"] == "completed" for s in summaries)
    assert summaries[0]["objective"]["value"] != summaries[1]["objective"]["value"]
    assert (sweep_dir / "figures/adam_figure_4.png").stat().st_size > 0  # the paper's Figure 4
