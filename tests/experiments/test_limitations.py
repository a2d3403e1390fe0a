"""The papers' limitations and intuitions, as numbers: JS saturation, the minimax generator's
vanishing gradient, Adam's bounded step, and the VAE's active latent units."""

import copy
import json
import math

import pytest
import torch

from experiments.adam import Adam
from experiments.gan import (
    GAN,
    GANTheory,
    js_divergence,
    uniform_density,
    value_at_optimum,
    wasserstein_1,
)
from experiments.vae import PosteriorMeanSpread
from runner.records.metrics import read_metrics
from runner.train import run
from tests.conftest import compose_config
from tests.wandb_records import read_finished_run

LOG_2 = math.log(2)


@pytest.mark.parametrize("separation", [1.0, 8.0])
def test_js_is_log_2_for_disjoint_supports_however_far_apart_and_w1_is_the_distance(separation):
    theory = GANTheory(family="uniform", data_std=0.1, model_std=0.1, model_mean=separation)
    p_data, p_model = theory.densities()
    grid = theory.integration_grid()
    assert js_divergence(p_data, p_model, grid) == pytest.approx(LOG_2, abs=1e-3)
    assert value_at_optimum(p_data, p_model, grid) == pytest.approx(
        0.0, abs=2e-3
    )  # −log 4 + 2 log 2
    assert wasserstein_1(p_data, p_model, grid) == pytest.approx(separation, abs=1e-3)


def test_overlapping_uniforms_have_js_in_proportion_to_their_shift():
    """Two uniforms of width L shifted by d < L: JS = (d/L)·log 2, exactly."""
    theory = GANTheory(family="uniform", data_std=1.0, model_std=1.0, model_mean=1.0)
    p_data, p_model = theory.densities()
    width = 2 * math.sqrt(3)
    expected = LOG_2 / width
    assert js_divergence(p_data, p_model, theory.integration_grid()) == pytest.approx(
        expected, abs=1e-3
    )
    assert uniform_density(0.0, 1.0)(torch.tensor([0.0, 1.8])).tolist() == pytest.approx(
        [1 / width, 0.0]
    )


def test_the_js_saturation_experiment_reports_js_at_its_maximum_and_w1(make_config, tmp_path):
    cfg = make_config("experiment=gan_js_saturation", "model.model_mean=4.0",
                      "model.data_std=0.1", "trainer.max_steps=20")  # fmt: skip
    run(cfg, tmp_path)
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert metrics["val/js"] == pytest.approx(LOG_2, abs=1e-3)
    assert metrics["val/value_at_optimum"] == pytest.approx(0.0, abs=2e-3)
    assert metrics["val/wasserstein"] == pytest.approx(4.0, abs=1e-3)
    assert metrics["val/theorem_2"] == pytest.approx(metrics["val/value_at_optimum"], abs=1e-3)


def small_gan(loss: str) -> GAN:
    torch.manual_seed(0)
    return GAN(latent_dim=8, generator_sizes=(32,), discriminator_sizes=(32,), generator_loss=loss,
               parzen_samples=10, parzen_val_images=10)  # fmt: skip


def test_where_d_rejects_the_samples_the_minimax_gradient_vanishes():
    """D(G(z)) ≈ e^−8: the minimax loss's gradient is ~e^−8 of the non-saturating one's."""
    start = small_gan("minimax")
    last = start.discriminator.net[-1]
    with torch.no_grad():
        last.weight.mul_(1e-3)  # every logit close to −8: D rejects everything
        last.bias.fill_(-8.0)
    norms = {}
    for loss in ("minimax", "non_saturating"):
        gan = copy.deepcopy(start)
        gan.generator_loss = loss
        gan.k_disc_steps = 1
        optimizers = {name: torch.optim.SGD(module.parameters(), lr=0.0)  # no step: same D
                      for name, module in (("generator", gan.generator), ("discriminator", gan.discriminator))}  # fmt: skip
        torch.manual_seed(1)
        batch = (torch.rand(16, 1, 28, 28), torch.zeros(16, dtype=torch.long))
        norms[loss] = gan.training_step(batch, optimizers)["g_grad_norm"].item()
    assert norms["minimax"] > 0
    # d(−log σ(a))/da = σ(a) − 1 and d log(1 − σ(a))/da = −σ(a): a ratio of e^8 at a = −8
    assert norms["non_saturating"] / norms["minimax"] == pytest.approx(math.exp(8), rel=0.02)


def test_on_the_real_gan_the_non_saturating_gradient_grows_far_above_the_minimax_one(
    make_config, tmp_path
):
    """The same start, the two generator losses: once D has had its first steps, the gradient
    G steps on is several times larger under −log D(G(z)) than under log(1 − D(G(z)))."""
    norms = {}
    for loss in ("minimax", "non_saturating"):
        cfg = make_config("experiment=gan_generator_loss", f"model.generator_loss={loss}",
                          "trainer.max_steps=80", "optim=adam_gan", "model.parzen_samples=100",
                          "model.parzen_val_images=100")  # fmt: skip
        run(cfg, tmp_path / loss)
        records = read_metrics(tmp_path / loss / "metrics.jsonl")
        norms[loss] = [
            r["train/g_grad_norm"] for r in records if r["step"] >= 40 and "train/g_grad_norm" in r
        ]
    assert len(norms["minimax"]) == len(norms["non_saturating"]) == 5  # steps 40, 50, ..., 80
    ratio = sum(norms["non_saturating"]) / sum(norms["minimax"])
    assert ratio > 3, ratio


def test_adam_measures_its_step_only_when_asked_and_its_first_step_is_alpha():
    torch.manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(50, 10))

    def step(optimizer: Adam) -> None:
        optimizer.zero_grad()
        (torch.randn(8, 50) @ weights).square().mean().backward()
        optimizer.step()

    quiet = Adam([weights], lr=1e-3)
    step(quiet)
    assert quiet.pop_statistics() == {}
    measured = Adam([weights], lr=1e-3, record_every=2)
    step(measured)
    assert measured.pop_statistics() == {}  # t = 1: not a multiple of 2
    fresh = Adam([weights], lr=1e-3, record_every=1)
    step(fresh)
    statistics = fresh.pop_statistics()
    # §2.1: the first bias-corrected step is ±α for every parameter with a gradient
    assert statistics["step_ratio_p50"] == pytest.approx(1.0, abs=1e-4)
    assert statistics["step_ratio_max"] == pytest.approx(1.0, abs=1e-4)
    assert statistics["update_over_lr_max"] == pytest.approx(1.0, abs=1e-3)
    assert sum(statistics["step_ratio"].counts) == weights.numel()
    assert fresh.pop_statistics() == {}  # popped once
    with pytest.raises(ValueError, match="record_every"):
        Adam([weights], record_every=0)


def test_adam_mlp_keeps_the_99th_percentile_of_its_step_within_alpha(make_config, tmp_path):
    cfg = make_config("experiment=adam_mlp", "optim=adam", "model.hidden_sizes=[64,64]",
                      "optim.record_every=5", "trainer.epochs=2", "logger=wandb",
                      "logger.mode=offline")  # fmt: skip
    run(cfg, tmp_path)
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "optim/step_ratio_p99" in r]
    assert [r["step"] for r in records] == list(range(5, records[-1]["step"] + 1, 5))
    assert all(r["optim/step_ratio_p99"] <= 1.0 for r in records)
    assert all(
        r["optim/step_ratio_p50"] <= r["optim/step_ratio_p99"] <= r["optim/step_ratio_max"]
        for r in records
    )
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert summary["optim/update_over_lr_max"] > 0
    histograms = [
        row for row in read_finished_run(tmp_path).history if "optim/step_ratio._type" in row
    ]
    assert len(histograms) == len(records)
    assert histograms[0]["optim/step_ratio._type"] == "histogram"


def test_a_vae_run_reports_its_active_units(make_config, tmp_path):
    run(
        make_config("experiment=vae_active_units", "model.latent_dim=2", "trainer.epochs=1"),
        tmp_path,
    )
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert metrics["val/active_units"] == metrics["test/active_units"] == 2


@pytest.mark.slow  # ten epochs of the VAE: the README's figure, 32 of 50 latents in use
def test_after_ten_epochs_the_elbo_leaves_latents_unused(data_root, tmp_path):
    cfg = compose_config("experiment=vae_active_units", "model.latent_dim=50", "logger=none",
                         "device=cpu", f"data.root={data_root}")  # fmt: skip
    run(cfg, tmp_path)
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert 10 <= metrics["test/active_units"] <= 45  # 32 in the README's run


def test_active_units_count_the_latents_whose_posterior_mean_moves_with_the_data():
    spread = PosteriorMeanSpread(latent_dim=3)
    torch.manual_seed(0)
    for _ in range(4):
        means = torch.randn(250, 3) * torch.tensor([1.0, 0.2, 0.01])  # variances 1, 0.04, 1e-4
        spread.add(means)
    assert spread.variances().tolist() == pytest.approx([1.0, 0.04, 1e-4], rel=0.1)
    assert spread.active_units() == 2
