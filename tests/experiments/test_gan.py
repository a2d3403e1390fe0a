"""The GAN experiment: networks, Algorithm 1, the Parzen-window estimate and the theory of §4."""

import io
import math
import re
from functools import partial

import pytest
import torch
from torch import Tensor

from experiments.gan import (
    GAN,
    PARZEN_SIGMAS,
    Discriminator,
    Generator,
    choose_sigma,
    generator_loss,
    js_divergence,
    normal_density,
    optimal_discriminator,
    parzen_log_likelihood,
    parzen_log_likelihoods,
    train_discriminator_1d,
    value_at_optimum,
    value_function,
)
from runner.training.evaluation import evaluate

LOG_4 = math.log(4)
SMALL = {"latent_dim": 8, "generator_sizes": (32, 64), "discriminator_sizes": (64,)}


def adam(parameters) -> torch.optim.Optimizer:
    """The common setup's optimizer: Adam, lr 2e-4, betas (0.5, 0.999)."""
    return torch.optim.Adam(parameters, lr=2e-4, betas=(0.5, 0.999))


def image_batch(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.zeros(n, dtype=torch.long)


def count_steps(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, int]:
    """Live counts of each optimizer's steps, by a hook run after every real step."""
    counts = dict.fromkeys(optimizers, 0)
    for name, optimizer in optimizers.items():

        def count(optimizer, args, kwargs, name=name) -> None:
            counts[name] += 1

        optimizer.register_step_post_hook(count)
    return counts


# --- The networks ---


def test_generator_maps_noise_to_images_in_minus_one_one() -> None:
    torch.manual_seed(0)
    generator = Generator()
    images = generator(10 * torch.randn(16, 100))  # large z drives the tanh to its limits
    assert images.shape == (16, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1


def test_discriminator_returns_one_logit_per_image() -> None:
    torch.manual_seed(0)
    logits = Discriminator()(2 * torch.rand(16, 1, 28, 28) - 1)
    assert logits.shape == (16,)
    probabilities = torch.sigmoid(logits)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_samples_noise_and_parameter_counts_of_the_default_setup() -> None:
    gan = GAN()
    # G: 100→128, then 128→256→512→1024 with BatchNorm (2 parameters per unit), then →784.
    g = (100 * 128 + 128) + (128 * 256 + 256 + 512) + (256 * 512 + 512 + 1024)
    g += (512 * 1024 + 1024 + 2048) + (1024 * 784 + 784)
    assert sum(p.numel() for p in gan.generator.parameters()) == g == 1_510_032
    d = (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)
    assert sum(p.numel() for p in gan.discriminator.parameters()) == d == 533_505
    gan.eval()
    with torch.no_grad():
        samples = gan.sample(8)
    assert samples.shape == (8, 1, 28, 28)
    assert samples.min() >= 0 and samples.max() <= 1
    uniform = GAN(noise="uniform", **SMALL).sample_noise(1000)
    assert uniform.min() >= -1 and uniform.max() <= 1 and uniform.min() < -0.99


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"generator_loss": "x"},
            "model.generator_loss must be non_saturating or minimax, got 'x'",
        ),
        ({"noise": "cauchy"}, "model.noise must be normal or uniform"),
        ({"k_disc_steps": 0}, "model.k_disc_steps must be a positive integer"),
        ({"latent_dim": 1.5}, "model.latent_dim must be a positive integer"),
        ({"generator_sizes": []}, "model.generator_sizes must be a non-empty list"),
        ({"discriminator_sizes": [256, 0]}, "model.discriminator_sizes must be a non-empty"),
        ({"negative_slope": -0.2}, "model.negative_slope must be in [0, 1)"),
        ({"d_optim": 0.001}, "model.d_optim must be null or an optimizer"),
        ({"parzen_sigmas": [0.1, 0.0]}, "model.parzen_sigmas must be a non-empty list"),
        ({"parzen_samples": 0}, "model.parzen_samples must be a positive integer"),
    ],
)
def test_bad_settings_are_refused_by_name(setting: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        GAN(**setting)


# --- Algorithm 1 ---


def test_one_training_step_moves_both_networks_and_returns_scalars() -> None:
    torch.manual_seed(0)
    gan = GAN()
    optimizers = gan.configure_optimizers(adam)
    before = {name: p.detach().clone() for name, p in gan.named_parameters()}
    metrics = gan.training_step(image_batch(64), optimizers)
    for name, p in gan.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} did not move"
    assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_fake", "value", "g_grad_norm"}
    for value in metrics.values():
        assert value.shape == () and not value.requires_grad and value.isfinite()
    assert metrics["d_loss"] == -metrics["value"]  # D descends −V
    assert 0 < metrics["d_real"] < 1 and 0 < metrics["d_fake"] < 1
    # D untrained says about 1/2 to everything: V ≈ log ½ + log ½ = −log 4.
    assert metrics["value"].item() == pytest.approx(-LOG_4, abs=0.1)


def test_k_disc_steps_gives_k_discriminator_steps_per_generator_step() -> None:
    torch.manual_seed(0)
    gan = GAN(k_disc_steps=3, **SMALL)
    optimizers = gan.configure_optimizers(adam)
    counts = count_steps(optimizers)
    seen = []
    for call in range(9):
        gan.training_step(image_batch(16, seed=call), optimizers)
        seen.append(counts["generator"])
    assert counts == {"discriminator": 9, "generator": 3}
    assert seen == [0, 0, 1, 1, 1, 2, 2, 2, 3]  # G steps after each k-th D step
    assert gan.calls.item() == 9


def test_d_optim_builds_the_discriminator_optimizer() -> None:
    gan = GAN(d_optim=partial(torch.optim.SGD, lr=0.1), **SMALL)
    optimizers = gan.configure_optimizers(adam)
    assert isinstance(optimizers["discriminator"], torch.optim.SGD)
    assert isinstance(optimizers["generator"], torch.optim.Adam)
    d_parameters = {
        id(p) for group in optimizers["discriminator"].param_groups for p in group["params"]
    }
    assert d_parameters == {id(p) for p in gan.discriminator.parameters()}


@pytest.mark.parametrize("loss", ["non_saturating", "minimax"])
def test_a_generator_step_lowers_its_loss_and_raises_d_of_g(loss: str) -> None:
    torch.manual_seed(0)
    gan = GAN(generator_loss=loss, **SMALL)
    optimizers = {
        "discriminator": torch.optim.SGD(gan.discriminator.parameters(), lr=0.0),  # D held fixed
        "generator": torch.optim.SGD(gan.generator.parameters(), lr=0.01),
    }
    # training_step draws the D step's noise, then the G step's: replay them to know the latter.
    torch.manual_seed(1)
    gan.sample_noise(16)
    z = gan.sample_noise(16)

    def objective() -> tuple[float, float]:
        with torch.no_grad():
            logits = gan.discriminator(gan.generator(z))
        return generator_loss(logits, loss).item(), torch.sigmoid(logits).mean().item()

    loss_before, d_before = objective()
    torch.manual_seed(1)
    metrics = gan.training_step(image_batch(16), optimizers)
    loss_after, d_after = objective()
    assert metrics["g_loss"].item() == pytest.approx(loss_before, rel=1e-5)
    assert loss_after < loss_before
    assert d_after > d_before


def test_the_minimax_loss_saturates_where_d_rejects_samples() -> None:
    """The paper's reason for its trick: log(1 − D(G(z))) is flat where D(G(z)) ≈ 0."""
    logits = torch.full((4,), -10.0, requires_grad=True)  # D(G(z)) ≈ 4.5e-5
    slopes = {}
    for loss in ["non_saturating", "minimax"]:
        (slopes[loss],) = torch.autograd.grad(generator_loss(logits, loss), logits)
    assert slopes["non_saturating"].abs().sum() == pytest.approx(1.0, abs=1e-3)
    assert slopes["minimax"].abs().sum() < 1e-4


# --- Parzen-window log-likelihood ---


def gaussian_log_density(x: Tensor, std: float) -> Tensor:
    """log N(x; 0, std²·I) for each row of x."""
    d = x.shape[1]
    return -x.square().sum(1) / (2 * std**2) - d / 2 * math.log(2 * math.pi * std**2)


def test_parzen_matches_a_direct_mixture_of_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    x, samples = (
        torch.randn(37, 3, generator=g, dtype=torch.float64),
        torch.randn(53, 3, generator=g, dtype=torch.float64),
    )
    kernels = torch.distributions.Normal(samples, 0.4)  # one isotropic Gaussian per sample
    direct = kernels.log_prob(x[:, None, :]).sum(2).logsumexp(1) - math.log(53)
    torch.testing.assert_close(parzen_log_likelihood(x, samples, 0.4, batch_size=1000), direct)


def test_batched_and_unbatched_parzen_agree() -> None:
    g = torch.Generator().manual_seed(0)
    x, samples = (
        torch.rand(37, 784, generator=g, dtype=torch.float64),
        torch.rand(53, 784, generator=g, dtype=torch.float64),
    )
    whole = parzen_log_likelihoods(x, samples, PARZEN_SIGMAS, batch_size=1000)
    assert whole.shape == (10, 37)
    for batch_size in [1, 7, 16]:
        torch.testing.assert_close(
            parzen_log_likelihoods(x, samples, PARZEN_SIGMAS, batch_size), whole, rtol=0, atol=1e-9
        )


def test_parzen_estimate_of_a_gaussian_is_close_to_its_log_density() -> None:
    """A KDE on n = 4000 samples of N(0, I) in 2-D, σ chosen on other points, against the truth.

    The estimate is biased low: smoothing by σ costs KL(N(0, 1)‖N(0, 1 + σ²)) ≈ σ⁴/4 per
    dimension (0.008 nats in 2-D for σ ≈ 0.36), and the log of a noisy density is low by about
    half its relative variance. The same test points feed both sides, so their own sampling
    noise cancels; what is left has a standard error of 0.003 nats. Over five seeds the gap
    was 0.004 to 0.009 nats. Hence a tolerance of 0.05 nats: several times the expected gap,
    and far below the error of a wrong constant (a missing log n or (d/2)·log 2πσ² is off by
    whole nats).
    """
    g = torch.Generator().manual_seed(0)
    samples, val, test = (
        torch.randn(n, 2, generator=g, dtype=torch.float64) for n in [4000, 500, 2000]
    )
    sigma, _ = choose_sigma(val, samples, PARZEN_SIGMAS, batch_size=512)
    assert sigma in PARZEN_SIGMAS[4:6]  # 0.28 or 0.36: a little wider than Silverman's 0.25
    estimate = parzen_log_likelihood(test, samples, sigma, batch_size=512).mean().item()
    truth = gaussian_log_density(test, 1.0).mean().item()
    assert estimate == pytest.approx(truth, abs=0.05)
    assert estimate < truth  # biased low, as explained above


def test_sigma_selection_picks_the_grid_value_nearest_the_true_width() -> None:
    """Test points are 5 points plus N(0, 0.3²) noise, so the KDE on those 5 points with σ = 0.3
    is their true density; the grid's nearest value, 0.278, must win."""
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.randn(5, 2, generator=g, dtype=torch.float64)
    which = torch.randint(0, 5, (2000,), generator=g)
    x = centres[which] + 0.3 * torch.randn(2000, 2, generator=g, dtype=torch.float64)
    sigma, log_likelihoods = choose_sigma(x, centres, PARZEN_SIGMAS, batch_size=256)
    nearest = min(PARZEN_SIGMAS, key=lambda s: abs(math.log(s / 0.3)))
    assert sigma == nearest == pytest.approx(0.2783, abs=1e-4)
    assert log_likelihoods.shape == (2000,)


# --- The experiment's evaluation, figures and checkpoints ---


def test_evaluate_reports_the_parzen_likelihood_on_val_then_test() -> None:
    torch.manual_seed(0)
    gan = GAN(parzen_samples=64, parzen_val_images=20, parzen_batch_size=16, **SMALL)
    val = [image_batch(25, seed=1), image_batch(25, seed=2)]
    test = [image_batch(40, seed=3)]

    measured = evaluate(gan, val, "val", seed=0)
    assert set(measured) == {
        f"val/{n}" for n in ["parzen_ll", "parzen_se", "parzen_sigma", "d_real", "d_fake"]
    }
    assert all(math.isfinite(v) for v in measured.values())
    assert measured["val/parzen_sigma"] in PARZEN_SIGMAS
    assert gan.parzen_sigma.item() == measured["val/parzen_sigma"]
    assert evaluate(gan, val, "val", seed=0) == measured  # deterministic under the runner's seed

    tested = evaluate(gan, test, "test", seed=0)
    assert set(tested) == {
        f"test/{n}" for n in ["parzen_ll", "parzen_se", "parzen_sigma", "d_real", "d_fake"]
    }
    assert all(math.isfinite(v) for v in tested.values())
    assert tested["test/parzen_sigma"] == measured["val/parzen_sigma"]  # remembered, not re-chosen
    assert tested["test/parzen_se"] > 0


def test_evaluate_refuses_an_empty_split() -> None:
    with pytest.raises(ValueError, match="empty split"):
        evaluate(GAN(**SMALL), [], "val", seed=0)


def test_evaluate_on_test_first_chooses_sigma_on_the_test_images() -> None:
    torch.manual_seed(0)
    gan = GAN(parzen_samples=64, parzen_val_images=20, parzen_batch_size=16, **SMALL)
    assert gan.parzen_sigma.isnan()
    tested = evaluate(gan, [image_batch(40, seed=3)], "test", seed=0)
    assert tested["test/parzen_sigma"] in PARZEN_SIGMAS
    assert gan.parzen_sigma.item() == tested["test/parzen_sigma"]


def test_figures_show_the_same_noise_every_time() -> None:
    gan = GAN(**SMALL)
    gan.eval()
    torch.manual_seed(0)
    first = gan.figures(image_batch(4))["samples"]
    torch.manual_seed(1)
    second = gan.figures(image_batch(4))["samples"]
    assert first.shape == (3, 10 * 30 + 2, 10 * 30 + 2)  # 100 images of 28 + 2 padding, 10 per row
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, second)
    torch.testing.assert_close(gan.fixed_noise, GAN(**SMALL).fixed_noise)  # a seed of its own


def test_the_nearest_training_image_is_found_across_blocks(monkeypatch) -> None:
    """Each sample's nearest image, searched block by block: a sample that is a training
    image (in the last, partial block) finds itself, another its closest neighbour."""
    import experiments.gan as gan_module

    monkeypatch.setattr(gan_module, "NEAREST_BLOCK", 7)
    training = torch.randint(0, 256, (30, 1, 4, 4), generator=torch.Generator().manual_seed(0),
                             dtype=torch.uint8)  # fmt: skip
    samples = torch.stack([training[29].float() / 255, training[3].float() / 255 + 0.01])
    nearest = gan_module.nearest_images(samples, training)
    torch.testing.assert_close(nearest[0], training[29].float() / 255)
    torch.testing.assert_close(nearest[1], training[3].float() / 255)
    brute = torch.cdist(samples.flatten(1), training.flatten(1).float() / 255).argmin(dim=1)
    assert brute.tolist() == [29, 3]


def test_the_papers_figures_2_and_3() -> None:
    """``nearest``: 20 samples, each beside its nearest training image (only once the runner
    has handed the training images over); ``interpolations``: 6 rows of 10 steps."""
    gan = GAN(**SMALL)
    gan.eval()
    assert "nearest" not in gan.figures(image_batch(4))
    training = (image_batch(50, seed=1)[0] * 255).to(torch.uint8)
    gan.see_training_images(training)
    grids = gan.figures(image_batch(4))
    assert grids["nearest"].shape == (3, 4 * 30 + 2, 10 * 30 + 2)  # 40 images, 10 per row
    assert grids["interpolations"].shape == (3, 6 * 30 + 2, 10 * 30 + 2)
    nearest_of_first = grids["nearest"][:, 2:30, 32:60]  # the second image: the first's match
    assert any(torch.equal(nearest_of_first[0], image[0].float() / 255) for image in training)
    assert "training_images" not in gan.state_dict()


def test_a_resumed_gan_continues_exactly() -> None:
    torch.manual_seed(0)
    gan = GAN(k_disc_steps=2, parzen_samples=32, parzen_val_images=10, parzen_batch_size=8, **SMALL)
    optimizers = gan.configure_optimizers(adam)
    for call in range(3):
        gan.training_step(image_batch(16, seed=call), optimizers)
    evaluate(gan, [image_batch(10, seed=9)], "val", seed=0)  # choose σ
    buffer = io.BytesIO()
    torch.save(
        {"gan": gan.state_dict(), "optimizers": {n: o.state_dict() for n, o in optimizers.items()}},
        buffer,
    )
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # as the runner reads checkpoints
    assert {"calls", "fixed_noise", "parzen_sigma"} <= set(saved["gan"])

    torch.manual_seed(1)
    resumed = GAN(
        k_disc_steps=2, parzen_samples=32, parzen_val_images=10, parzen_batch_size=8, **SMALL
    )
    resumed_optimizers = resumed.configure_optimizers(adam)
    resumed.training_step(image_batch(16, seed=7), resumed_optimizers)  # a stale call count: 1
    resumed.load_state_dict(saved["gan"])
    for name, state in saved["optimizers"].items():
        resumed_optimizers[name].load_state_dict(state)
    assert resumed.calls.item() == 3
    assert resumed.parzen_sigma.item() == gan.parzen_sigma.item()
    assert torch.equal(resumed.fixed_noise, gan.fixed_noise)

    counts = count_steps(optimizers)
    results = []
    for model, opts in [(gan, optimizers), (resumed, resumed_optimizers)]:
        torch.manual_seed(2)
        results.append(model.training_step(image_batch(16, seed=3), opts))
    assert counts["generator"] == 1  # call 4 of k = 2: a G step, in both
    assert all(torch.equal(results[0][name], results[1][name]) for name in results[0])
    for (name, p), q in zip(gan.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q) or (p.isnan().all() and q.isnan().all()), name


# --- The theory of §4 ---

MODELS = [(1.0, 1.0), (0.5, 2.0), (-2.0, 0.5), (3.0, 1.5)]
"""p_g = N(μ, s²) against p_d = N(0, 1)."""


def mixture(*densities) -> "callable":
    return lambda x: sum(p(x) for p in densities) / len(densities)


def test_the_optimal_discriminator_is_one_half_where_the_densities_agree() -> None:
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    p_data = normal_density()
    torch.testing.assert_close(optimal_discriminator(x, p_data, p_data), torch.full_like(x, 0.5))
    # N(0, 1) and N(1, 1) cross at x = 1/2; D* > 1/2 on the data's side.
    d = optimal_discriminator(
        torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64), p_data, normal_density(1.0)
    )
    assert d[0].item() == pytest.approx(0.5, abs=1e-12)
    assert d[1] > 0.5 > d[2]
    assert (
        optimal_discriminator(torch.tensor([1e4], dtype=torch.float64), p_data, p_data).item()
        == 0.5
    )


@pytest.mark.parametrize(("mean", "std"), MODELS)
def test_value_at_the_optimum_is_minus_log_4_plus_twice_js(mean: float, std: float) -> None:
    p_data, p_model = normal_density(), normal_density(mean, std)
    js = js_divergence(p_data, p_model)
    assert 0 < js < math.log(2)
    assert value_at_optimum(p_data, p_model) == pytest.approx(-LOG_4 + 2 * js, abs=1e-6)


def test_theorem_2_at_and_far_from_the_optimum() -> None:
    p_data = mixture(normal_density(-2, 0.5), normal_density(1, 1))
    assert value_at_optimum(p_data, p_data) == pytest.approx(-LOG_4, abs=1e-9)
    assert js_divergence(p_data, p_data) == pytest.approx(0, abs=1e-12)
    p_model = mixture(normal_density(0, 1), normal_density(2, 0.3))
    js = js_divergence(p_data, p_model)
    assert value_at_optimum(p_data, p_model) == pytest.approx(-LOG_4 + 2 * js, abs=1e-6)
    # The integrand written without D* agrees with V(D, G) at D = D*.
    optimum = value_function(lambda x: optimal_discriminator(x, p_data, p_model), p_data, p_model)
    assert optimum == pytest.approx(value_at_optimum(p_data, p_model), abs=1e-9)
    # Disjoint supports: JS = log 2, and D* tells them apart perfectly: V = 0.
    far = normal_density(20, 1)
    assert js_divergence(normal_density(), far) == pytest.approx(math.log(2), abs=1e-6)
    assert value_at_optimum(normal_density(), far) == pytest.approx(0, abs=1e-6)


def test_a_trained_discriminator_approaches_the_optimal_one() -> None:
    torch.manual_seed(0)
    p_data, p_model = normal_density(), normal_density(0.5, 2.0)
    d = train_discriminator_1d(lambda n: torch.randn(n), lambda n: 0.5 + 2 * torch.randn(n))
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)  # the bulk of both masses
    with torch.no_grad():
        error = (d(x) - optimal_discriminator(x, p_data, p_model)).abs()
        trained_value = value_function(d, p_data, p_model)
    assert error.mean() < 0.05
    optimum = value_at_optimum(p_data, p_model)
    assert trained_value <= optimum + 1e-6  # D* maximises V(·, G)
    assert trained_value == pytest.approx(optimum, abs=0.01)


def test_against_a_perfect_generator_the_discriminator_says_one_half() -> None:
    torch.manual_seed(0)
    p_data = normal_density()
    d = train_discriminator_1d(torch.randn, torch.randn)
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    with torch.no_grad():
        assert (d(x) - 0.5).abs().mean() < 0.05
        assert value_function(d, p_data, p_data) == pytest.approx(-LOG_4, abs=0.05)
