"""The VAE experiment: the KL, the reparameterisation, importance sampling and training."""

import io
import math

import pytest
import torch
from torch import Tensor

from experiments.vae import (
    VAE,
    bernoulli_log_likelihood,
    bernoulli_log_likelihoods,
    gaussian_kl,
    gaussian_log_density,
    importance_sampled_log_likelihood,
    reparameterize,
)
from runner.data.digits import generate_digits

TINY = {"hidden_sizes": (32,), "latent_dim": 4, "importance_samples": 5}


def adam(parameters) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=1e-3)


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor]:
    """2,000 training and 500 test digits as floats in [0, 1], [N, 1, 28, 28]."""
    images, _ = generate_digits(2_500, seed=0)
    images = images.float().div(255).unsqueeze(1)
    return images[:2_000], images[2_000:]


def train(model: VAE, images: Tensor, steps: int, batch_size: int = 100, seed: int = 0) -> None:
    torch.manual_seed(seed)
    optimizers = model.configure_optimizers(adam)
    model.train()
    for step in range(steps):
        start = step * batch_size % len(images)
        batch = images[start : start + batch_size]
        model.training_step((batch, torch.zeros(len(batch), dtype=torch.long)), optimizers)


def evaluate(model: VAE, images: Tensor, seed: int = 0) -> dict[str, float]:
    """As the runner does: eval mode, no gradients, a freshly seeded RNG."""
    model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        batches = [
            (chunk, torch.zeros(len(chunk), dtype=torch.long)) for chunk in images.split(250)
        ]
        return model.evaluate(batches, "test")


@pytest.fixture(scope="module")
def trained_tiny(digits) -> VAE:
    torch.manual_seed(0)
    model = VAE(**TINY)
    train(model, digits[0], steps=200)
    return model.eval()


# --- The KL and the reparameterisation ---


def test_kl_is_zero_when_q_is_the_prior() -> None:
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).tolist() == [0.0] * 3


def test_kl_matches_a_monte_carlo_estimate() -> None:
    """KL = E_q[log q(z) − log p(z)]; the sample mean of n draws lies within 5 standard
    errors of it (a 1 in 1.7 million miss for a Gaussian mean; the seed makes it fixed)."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, -1.5, 0.7], dtype=torch.float64)
    n = 200_000
    z = mu + (0.5 * logvar).exp() * torch.randn(n, 3, generator=gen, dtype=torch.float64)
    zero = torch.zeros(3, dtype=torch.float64)
    log_ratio = gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, zero, zero)
    standard_error = log_ratio.std() / math.sqrt(n)
    assert abs(log_ratio.mean() - gaussian_kl(mu, logvar)) < 5 * standard_error
    assert gaussian_kl(mu, logvar) > 0


def test_reparameterised_samples_have_the_right_moments_and_gradients() -> None:
    torch.manual_seed(0)
    n = 100_000
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64).expand(n, 2).clone().requires_grad_()
    logvar = torch.tensor([0.0, 1.0], dtype=torch.float64).expand(n, 2).clone().requires_grad_()
    z = reparameterize(mu, logvar)
    variance = logvar.detach().exp()[0]
    # Within 5 standard errors: σ/√n for the mean, σ²·√(2/(n−1)) for the variance.
    assert torch.all((z.mean(0) - mu[0]).abs() < 5 * variance.sqrt() / math.sqrt(n))
    assert torch.all((z.var(0) - variance).abs() < 5 * variance * math.sqrt(2 / (n - 1)))
    z.sum().backward()
    # dz/dμ = 1 and dz/d(log σ²) = ½σε = ½(z − μ).
    assert torch.equal(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mu).detach())


# --- Importance sampling ---


def test_the_many_latents_likelihood_is_the_negative_cross_entropy() -> None:
    """Σ x·l − Σ softplus(l) equals −BCE summed, for binary and grey pixels and for logits far
    in both tails, where a naive log(1 + exp(l)) would overflow."""
    generator = torch.Generator().manual_seed(0)
    logits = 8 * torch.randn(5, 3, 1, 28, 28, generator=generator)
    logits[0, 0, 0, :2] = torch.tensor([[-90.0] * 28, [90.0] * 28])
    for x in (torch.bernoulli(torch.rand(3, 1, 28, 28, generator=generator)),
              torch.rand(3, 1, 28, 28, generator=generator)):  # fmt: skip
        expected = bernoulli_log_likelihood(logits, x.expand_as(logits))
        torch.testing.assert_close(bernoulli_log_likelihoods(logits, x), expected)


def test_importance_sampling_is_exact_when_q_is_the_posterior() -> None:
    """A decoder that ignores z has posterior = prior; an encoder that outputs the prior then
    makes every weight p(x, z)/q(z|x) equal p(x), so the estimate is exact for any K."""
    torch.manual_seed(0)
    model = VAE(**TINY)
    for layer in (model.encoder.mean, model.encoder.logvar, model.decoder.hidden[0]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    exact = bernoulli_log_likelihood(model.decoder(torch.zeros(6, 4)), x)
    for k in (1, 7, 30):
        estimate = importance_sampled_log_likelihood(model, x, k, batch_size=12)
        torch.testing.assert_close(estimate, exact)


def test_importance_sampling_bounds_the_elbo_and_tightens_with_k(trained_tiny, digits) -> None:
    torch.manual_seed(0)
    x = torch.bernoulli(digits[1][:200])
    with torch.no_grad():
        reconstruction, kl = trained_tiny.elbo_terms(x.expand(50, *x.shape).flatten(0, 1))
        elbo = (reconstruction - kl).view(50, -1).mean(0)  # a 50-sample estimate per image
        estimates = {k: importance_sampled_log_likelihood(trained_tiny, x, k) for k in (1, 10, 100)}
    gaps = {k: (estimate - elbo).mean().item() for k, estimate in estimates.items()}
    # K = 1 is the ELBO in expectation: the mean gap is within sampling noise of 0.
    single_noise = (estimates[1] - elbo).std().item() / math.sqrt(len(x))
    assert abs(gaps[1]) < 5 * single_noise
    assert 0 < gaps[10] <= gaps[100]


def test_importance_sampling_is_the_log_mean_of_the_weights(trained_tiny, digits) -> None:
    """log (1/K) Σ_k p(x, z_k)/q(z_k|x), recomputed by hand on the same draws z_k."""
    x = torch.bernoulli(digits[1][:10], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        mu, logvar = trained_tiny.encoder(x)
        eps = torch.randn(20, *mu.shape)
        torch.manual_seed(1)
        in_one = importance_sampled_log_likelihood(trained_tiny, x, 20, batch_size=200)
    z = mu + (0.5 * logvar).exp() * eps
    zero = torch.zeros_like(mu)
    with torch.no_grad():
        log_w = (
            bernoulli_log_likelihood(trained_tiny.decoder(z), x)
            + gaussian_log_density(z, zero, zero)
            - gaussian_log_density(z, mu, logvar)
        )
    torch.testing.assert_close(in_one, torch.logsumexp(log_w, 0) - math.log(20))


# --- Training and evaluation ---


def test_training_step_returns_detached_consistent_metrics() -> None:
    torch.manual_seed(0)
    model = VAE(**TINY)
    optimizers = model.configure_optimizers(adam)
    assert list(optimizers) == ["model"]
    before = [p.detach().clone() for p in model.parameters()]
    metrics = model.training_step((torch.rand(8, 1, 28, 28), torch.zeros(8)), optimizers)
    assert set(metrics) == {"loss", "elbo", "kl", "reconstruction"}
    assert all(m.ndim == 0 and not m.requires_grad for m in metrics.values())
    assert metrics["loss"] == -metrics["elbo"]
    torch.testing.assert_close(metrics["elbo"], metrics["reconstruction"] - metrics["kl"])
    assert metrics["reconstruction"] < 0 and metrics["kl"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_dynamic_binarisation_draws_binary_images_of_the_intensities() -> None:
    torch.manual_seed(0)
    images = torch.full((100, 1, 28, 28), 0.3)
    x = VAE(**TINY).observe(images)
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert abs(x.mean().item() - 0.3) < 0.01
    assert VAE(**TINY, binarize="none").observe(images) is images


def test_training_raises_the_test_elbo(digits) -> None:
    torch.manual_seed(0)
    model = VAE(importance_samples=10)
    before = evaluate(model, digits[1])
    train(model, digits[0], steps=300, batch_size=128)
    after = evaluate(model, digits[1])
    assert set(after) == {"elbo", "kl", "reconstruction", "log_likelihood", "active_units"}
    assert after["elbo"] > before["elbo"] + 200  # about −545 nats at the start
    assert after["log_likelihood"] >= after["elbo"]
    assert after["elbo"] == pytest.approx(after["reconstruction"] - after["kl"])
    assert evaluate(model, digits[1]) == after  # reproducible under the same seed


def test_wake_trains_only_the_decoder_and_sleep_only_the_encoder() -> None:
    """The wake phase's loss has no gradient in q (its z is a fixed draw of q), the sleep
    phase's none in p (the dream is a fixed draw of p): each network learns from one phase."""
    torch.manual_seed(0)
    model = VAE(method="wake_sleep", **TINY)
    x = torch.rand(16, 1, 28, 28)
    recorded: dict[str, Tensor] = {}

    def keep_gradients(loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        loss.backward()
        recorded.update({name: p.grad.clone() for name, p in model.named_parameters()})

    model.use_step_service(keep_gradients)
    metrics = model.training_step((x, torch.zeros(16, dtype=torch.long)), {"model": None})
    assert set(recorded) == {name for name, _ in model.named_parameters()}
    assert all(recorded[name].abs().sum() > 0 for name in recorded)
    assert set(metrics) == {"loss", "elbo", "kl", "reconstruction"}
    assert all(not value.requires_grad for value in metrics.values())

    model.zero_grad()
    with torch.no_grad():
        mu, logvar = model.encoder(x)
    z = reparameterize(mu, logvar)
    (-bernoulli_log_likelihood(model.decoder(z), x).mean()).backward()  # the wake loss alone
    assert all(p.grad is None for p in model.encoder.parameters())


def test_wake_sleep_raises_the_bound_but_aevb_raises_it_more(digits) -> None:
    """The paper's Figure 2 in small: both methods train the same networks from the same
    start, and AEVB's test ELBO ends higher."""
    results = {}
    for method in ("aevb", "wake_sleep"):
        torch.manual_seed(0)
        model = VAE(method=method, **TINY)
        before = evaluate(model, digits[1])["elbo"]
        train(model, digits[0], steps=300)
        results[method] = evaluate(model, digits[1])["elbo"]
        assert results[method] > before + 100, (method, before, results[method])
    assert results["aevb"] > results["wake_sleep"]


@pytest.mark.parametrize(("val_k", "expected_val_k"), [(None, 7), (2, 2), (50, 7)])
def test_validations_use_their_own_smaller_k(val_k: int | None, expected_val_k: int) -> None:
    """K = val_importance_samples (at most importance_samples) on "val", the full K on "test":
    counted as the (image, sample) pairs the decoder sees, besides the ELBO's one per image."""
    torch.manual_seed(0)
    model = VAE(
        hidden_sizes=(16,), latent_dim=3, importance_samples=7, val_importance_samples=val_k
    )
    images = generate_digits(10, seed=1)[0].float().div(255).unsqueeze(1)
    decoded = []
    model.decoder.register_forward_hook(
        lambda _, inputs, __: decoded.append(inputs[0].shape[:-1].numel())
    )
    for split, k in (("val", expected_val_k), ("test", 7)):
        decoded.clear()
        model.evaluate([(images, torch.zeros(10))], split)
        assert sum(decoded) == 10 + 10 * k, split


# --- Figures and checkpoints ---


@pytest.mark.parametrize("latent_dim", [2, 5])
def test_figures_are_grids_in_the_unit_interval(latent_dim: int) -> None:
    torch.manual_seed(0)
    model = VAE(hidden_sizes=(16,), latent_dim=latent_dim).eval()
    figures = model.figures((torch.rand(10, 1, 28, 28), torch.zeros(10)))
    shapes = {name: tuple(grid.shape) for name, grid in figures.items()}
    expected = {"reconstructions": (3, 62, 242), "samples": (3, 242, 242)}
    if latent_dim == 2:
        expected["manifold"] = (3, 452, 452)  # 15 × 15 images of 28 + 2 pixels, 2 of border
    assert shapes == expected
    assert all(grid.min() >= 0 and grid.max() <= 1 for grid in figures.values())


def test_fixed_noise_is_seeded_and_survives_a_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    first = VAE(**TINY)
    torch.manual_seed(1)
    assert torch.equal(VAE(**TINY).fixed_noise, first.fixed_noise)  # not the global RNG
    first.fixed_noise.mul_(2)  # stand-in for a checkpoint made by another version
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = VAE(**TINY)
    second.load_state_dict(torch.load(buffer))
    assert torch.equal(second.fixed_noise, first.fixed_noise)
    batch = (torch.rand(8, 1, 28, 28), torch.zeros(8))
    assert torch.equal(second.figures(batch)["samples"], first.figures(batch)["samples"])


# --- Settings ---


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("in_channels", 0),
        ("image_size", -1),
        ("latent_dim", 2.5),
        ("hidden_sizes", ()),
        ("hidden_sizes", (400, 0)),
        ("activation", "sigmoid"),
        ("binarize", "static"),
        ("importance_samples", 0),
        ("val_importance_samples", 0),
        ("importance_batch_size", True),
        ("method", "sleep_wake"),
    ],
)
def test_bad_settings_are_named(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"model.{name} must"):
        VAE(**{name: value})
