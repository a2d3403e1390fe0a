"""Auto-Encoding Variational Bayes (Kingma & Welling, 2013, arXiv 1312.6114).

A recognition model (encoder) q(z|x) = N(μ(x), diag σ²(x)) and a generative model (decoder)
p(x|z) = Bernoulli(sigmoid(logits(z))) with prior p(z) = N(0, I) are trained together by
maximising the evidence lower bound on every image,

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))  ≤  log p(x),

with the reparameterisation z = μ + σ·ε, ε ~ N(0, I), so that a one-sample estimate of the
first term has gradients in μ and σ, and with the KL in closed form (Appendix B). Everything
is in nats per image: summed over pixels, averaged over images.

The networks are the common PyTorch setup (784-400-20, ReLU); the paper used 500 tanh units
(``activation=tanh, hidden_sizes=[500]``) and the Adam paper §6.4 500 softplus units and a
50-d latent. Beyond the ELBO, log p(x) is estimated by importance sampling with q as the
proposal, a bound that tightens as the number of samples K grows.
"""

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from experiments.base import Batch, Experiment, gather_over_processes, image_grid, mean_over_batches
from experiments.checks import check_positive, check_sizes

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus}
BINARIZATIONS = ("dynamic", "none")
METHODS = ("aevb", "wake_sleep")
FIGURE_SAMPLES = 64
FIGURE_NOISE_SEED = 1312
FIGURE_RECONSTRUCTIONS = 8
MANIFOLD_SIZE = 15
LOG_2PI = math.log(2 * math.pi)


def mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers through ``sizes``, the activation after every one of them."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """q(z|x): images [B, C, H, W] → μ and log σ², each [B, latent_dim]."""

    def __init__(
        self, image_pixels: int, hidden_sizes: Sequence[int], latent_dim: int, activation: str
    ) -> None:
        super().__init__()
        self.hidden = mlp([image_pixels, *hidden_sizes], activation)
        self.mean = nn.Linear(hidden_sizes[-1], latent_dim)
        self.logvar = nn.Linear(hidden_sizes[-1], latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.hidden(x.flatten(1))
        return self.mean(h), self.logvar(h)


class Decoder(nn.Module):
    """p(x|z): latents [..., latent_dim] → Bernoulli logits [..., C, H, W]."""

    def __init__(
        self,
        latent_dim: int,
        hidden_sizes: Sequence[int],
        image_shape: tuple[int, int, int],
        activation: str,
    ) -> None:
        super().__init__()
        self.image_shape = image_shape
        self.hidden = mlp([latent_dim, *reversed(hidden_sizes)], activation)
        self.logits = nn.Linear(hidden_sizes[0], math.prod(image_shape))

    def forward(self, z: Tensor) -> Tensor:
        return self.logits(self.hidden(z)).view(*z.shape[:-1], *self.image_shape)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample, summed over the last dimension (Appendix B):
    −½ Σ (1 + log σ² − μ² − σ²)."""
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(-1)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = μ + σ·ε with ε ~ N(0, I): a sample of q that is differentiable in μ and log σ²."""
    return mu + (0.5 * logvar).exp() * torch.randn_like(mu)


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) per image: the negative binary cross-entropy summed over the C, H, W pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.flatten(-3).sum(-1)


@torch.no_grad()
def bernoulli_log_likelihoods(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) per image for many latents of each, for evaluation (no gradients):
    ``logits`` [K, B, C, H, W] decoded from K latents of each of the B images ``x``
    [B, C, H, W] → [K, B].

    The sum :func:`bernoulli_log_likelihood` takes, Σ x·l − Σ softplus(l) over the pixels, with
    softplus(l) = max(l, 0) + log(1 + exp(−|l|)) computed in place. Torch's softplus and binary
    cross-entropy call ``log1p``, which their CPU kernels do not vectorise: this is several
    times faster on the K·B logits of the importance-sampled likelihood, most of a VAE's test
    evaluation, and equal up to float32 rounding (the log of a number in (1, 2] loses nothing
    that a float32 sum over the pixels keeps).
    """
    logits, pixels = logits.float().flatten(-3), x.float().flatten(-3)
    softplus = logits.abs().neg_().exp_().add_(1).log_().add_(logits.clamp(min=0))
    return (logits * pixels).sum(-1) - softplus.sum(-1)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag σ²), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() / logvar.exp()).sum(-1)


def importance_sampled_log_likelihood(
    model: "VAE",
    x: Tensor,
    k: int,
    batch_size: int = 10_000,
    posterior: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """log p(x) per image, estimated with K samples z_k of q(z|x) as the proposal:

        log p(x) ≈ log (1/K) Σ_k p(x, z_k) / q(z_k|x),

    computed by log-sum-exp. Its expectation is a lower bound on log p(x) that equals the ELBO
    for K = 1 and rises towards log p(x) as K grows (Burda et al., 2015, Theorem 1). The K
    samples are decoded ``batch_size`` // len(x) at a time (at least one), to bound memory.
    ``posterior``: q's (μ, log σ²) for ``x`` when the caller has them already.
    """
    mu, logvar = model.encoder(x) if posterior is None else posterior
    prior = torch.zeros_like(mu)
    chunk = max(1, batch_size // len(x))
    log_weights = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = mu + (0.5 * logvar).exp() * torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)
        log_prior = gaussian_log_density(z, prior, prior)
        log_joint = bernoulli_log_likelihoods(model.decoder(z), x) + log_prior
        log_weights.append(log_joint - gaussian_log_density(z, mu, logvar))
    return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(k)


class PosteriorMeanSpread:
    """How much each latent's posterior mean E_q[z|x] varies over a split's images: a latent
    whose mean barely moves with x carries no information about it, q(z|x) having been
    pulled onto the prior by the KL term.

    A latent is *active* when Cov_x(E_q[z|x]) > 0.01 (Burda, Grosse and Salakhutdinov, 2016,
    "Importance Weighted Autoencoders", §5.2). Sums of the means and of their squares are
    kept per latent, in float64, and combined over the processes of a run.
    """

    THRESHOLD = 0.01

    def __init__(self, latent_dim: int) -> None:
        self.sums = torch.zeros(latent_dim, dtype=torch.float64)
        self.squares = torch.zeros(latent_dim, dtype=torch.float64)
        self.count = 0

    def add(self, means: Tensor) -> None:
        means = means.detach().double().cpu()
        self.sums += means.sum(0)
        self.squares += means.square().sum(0)
        self.count += means.shape[0]

    def variances(self) -> Tensor:
        parts = gather_over_processes((self.sums, self.squares, self.count))
        count = sum(part[2] for part in parts)
        mean = sum(part[0] for part in parts) / count
        return (sum(part[1] for part in parts) / count - mean.square()).clamp(min=0)

    def active_units(self) -> int:
        return int((self.variances() > self.THRESHOLD).sum())


class VAE(Experiment):
    """Gaussian encoder and Bernoulli decoder trained on the ELBO (the paper's AEVB).

    ``binarize="dynamic"`` draws binary images x ~ Bernoulli(pixel intensities) afresh for every
    batch, training and evaluation alike (evaluation draws from the runner's seeded RNG, so its
    numbers are reproducible); then the Bernoulli likelihood is an honest probability of binary
    data. With ``"none"`` intensities are used as they are, and the "likelihoods" are only
    cross-entropies: comparable among models, but not log-probabilities of anything.

    The importance-sampled log-likelihood uses K = ``importance_samples`` on the test set and
    K = ``val_importance_samples`` (at most ``importance_samples``; None: the same) at the
    validations during training: its cost grows with K, and with K = 100 it is most of a small
    model's training time, while the validations need it only as a curve (the objective is the
    ELBO). ``importance_batch_size`` bounds how many (image, sample) pairs it decodes at once.

    ``method="wake_sleep"`` trains the same encoder and decoder by the wake-sleep algorithm
    (Hinton, Dayan, Frey and Neal, 1995), the paper's Figure 2 baseline, instead of AEVB: the
    wake phase raises log p(x|z) for z drawn from q(z|x) (the decoder learns; no gradient
    reaches q), the sleep phase raises log q(z|x) on dreams, z ~ p(z) and x ~ p(x|z) (the
    encoder learns to invert the decoder). Its bound is measured exactly as AEVB's.
    """

    training_metrics = ("loss", "elbo", "kl", "reconstruction")
    evaluation_metrics = ("elbo", "kl", "reconstruction", "log_likelihood", "active_units")
    metric_goals = {"loss": "min", "elbo": "max", "reconstruction": "max", "log_likelihood": "max"}
    paper = "vae"

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden_sizes: Sequence[int] = (400,),
        latent_dim: int = 20,
        activation: str = "relu",
        binarize: str = "dynamic",
        importance_samples: int = 100,
        importance_batch_size: int = 10_000,
        val_importance_samples: int | None = 10,
        method: str = "aevb",
    ) -> None:
        super().__init__()
        check_positive(
            in_channels=in_channels, image_size=image_size, latent_dim=latent_dim,
            importance_samples=importance_samples, importance_batch_size=importance_batch_size,
        )  # fmt: skip
        if val_importance_samples is not None:
            check_positive(val_importance_samples=val_importance_samples)
        hidden_sizes = check_sizes("hidden_sizes", hidden_sizes)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"model.activation must be relu, tanh or softplus, got {activation!r}")
        if not isinstance(binarize, str) or binarize not in BINARIZATIONS:
            raise ValueError(f"model.binarize must be dynamic or none, got {binarize!r}")
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"model.method must be aevb or wake_sleep, got {method!r}")

        image_shape = (in_channels, image_size, image_size)
        self.encoder = Encoder(math.prod(image_shape), hidden_sizes, latent_dim, activation)
        self.decoder = Decoder(latent_dim, hidden_sizes, image_shape, activation)
        self.latent_dim = latent_dim
        self.binarize = binarize
        self.method = method
        self.importance_samples = importance_samples
        self.val_importance_samples = min(
            val_importance_samples or importance_samples, importance_samples
        )
        self.importance_batch_size = importance_batch_size
        # The same prior draws every time the figures are made, carried by checkpoints.
        figure_rng = torch.Generator().manual_seed(FIGURE_NOISE_SEED)
        self.register_buffer(
            "fixed_noise", torch.randn(FIGURE_SAMPLES, latent_dim, generator=figure_rng)
        )

    def observe(self, images: Tensor) -> Tensor:
        """The data x the model sees: a fresh Bernoulli draw of the images, or the images."""
        return torch.bernoulli(images) if self.binarize == "dynamic" else images

    def elbo_terms(
        self, x: Tensor, posterior: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The one-sample estimate of E_q[log p(x|z)] and the exact KL(q(z|x) ‖ p(z)), per image;
        ``posterior``, q's (μ, log σ²) for ``x`` when the caller has them already."""
        mu, logvar = self.encoder(x) if posterior is None else posterior
        # The KL and the sample z in float32 even under bf16 autocast: exp(log σ²) and the
        # sum over latents lose too much in 8 bits of mantissa. The Bernoulli likelihood is
        # float32 already (autocast computes BCE-with-logits in float32).
        mu, logvar = mu.float(), logvar.float()
        reconstruction = bernoulli_log_likelihood(self.decoder(reparameterize(mu, logvar)), x)
        return reconstruction, gaussian_kl(mu, logvar)

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        """One step on −ELBO (AEVB), or one wake and one sleep phase. Metrics: ``loss`` (what
        the step descended), ``elbo``, ``kl``, ``reconstruction`` (the batch's bound)."""
        x = self.observe(batch[0])
        if self.method == "wake_sleep":
            return self.wake_sleep_step(x, optimizers["model"])
        reconstruction, kl = self.elbo_terms(x)
        elbo = (reconstruction - kl).mean()
        self.optimizer_step(-elbo, optimizers["model"])
        return {
            "loss": -elbo.detach(),
            "elbo": elbo.detach(),
            "kl": kl.mean().detach(),
            "reconstruction": reconstruction.mean().detach(),
        }

    def wake_sleep_step(self, x: Tensor, optimizer: Optimizer) -> dict[str, Tensor]:
        """Wake: −log p(x|z), z ~ q(z|x) held fixed, trains the decoder. Sleep: −log q(z|x̃)
        on a dream z ~ p(z), x̃ ~ p(x|z), trains the encoder. One step on their sum: each
        phase's loss reaches only its own network."""
        with torch.no_grad():
            mu, logvar = (value.float() for value in self.encoder(x))
            z = reparameterize(mu, logvar)
        reconstruction = bernoulli_log_likelihood(self.decoder(z), x)
        with torch.no_grad():
            dream_z = torch.randn(len(x), self.latent_dim, device=x.device)
            dream_x = torch.bernoulli(torch.sigmoid(self.decoder(dream_z).float()))
        dream_mu, dream_logvar = (value.float() for value in self.encoder(dream_x))
        sleep = -gaussian_log_density(dream_z, dream_mu, dream_logvar).mean()
        self.optimizer_step(-reconstruction.mean() + sleep, optimizer)
        kl = gaussian_kl(mu, logvar)
        reconstruction = reconstruction.detach()
        return {
            "loss": (sleep - reconstruction.mean()).detach(),
            "elbo": (reconstruction - kl).mean(),
            "kl": kl.mean(),
            "reconstruction": reconstruction.mean(),
        }

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """Mean ``elbo``, ``kl``, ``reconstruction`` and importance-sampled ``log_likelihood``
        (K = ``val_importance_samples`` on ``"val"``, else ``importance_samples``), all on
        the same binarisation of each image, and the number of ``active_units``."""
        k = self.val_importance_samples if split == "val" else self.importance_samples
        posterior_means = PosteriorMeanSpread(self.latent_dim)

        def measure(batch: Batch) -> dict[str, Tensor]:
            x = self.observe(batch[0])
            posterior = self.encoder(x)
            posterior_means.add(posterior[0])
            reconstruction, kl = self.elbo_terms(x, posterior)
            log_likelihood = importance_sampled_log_likelihood(
                self, x, k, self.importance_batch_size, posterior
            )
            return {
                "elbo": (reconstruction - kl).sum(),
                "kl": kl.sum(),
                "reconstruction": reconstruction.sum(),
                "log_likelihood": log_likelihood.sum(),
            }

        metrics = mean_over_batches(batches, measure)
        return metrics | {"active_units": float(posterior_means.active_units())}

    @torch.no_grad()
    def decode_mean(self, z: Tensor) -> Tensor:
        """E[x|z] = sigmoid(logits), the image a latent stands for."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def figures(self, batch: Batch) -> dict[str, Tensor]:
        """``reconstructions``: the first inputs (top row) over their decoded posterior means;
        ``samples``: decoded fixed prior draws; and for a 2-d latent, ``manifold``: Figure 4,
        decoded means on a grid over the latent plane at quantiles of the prior."""

        images = batch[0][:FIGURE_RECONSTRUCTIONS]
        mu, _ = self.encoder(images)
        pairs = torch.cat([images, self.decode_mean(mu)]).cpu()
        samples = self.decode_mean(self.fixed_noise).cpu()
        figures = {
            "reconstructions": image_grid(pairs, per_row=len(images), padding=2, pad_value=0.5),
            "samples": image_grid(samples, per_row=8, padding=2, pad_value=0.5),
        }
        if self.latent_dim == 2:
            quantiles = torch.linspace(0.05, 0.95, MANIFOLD_SIZE, device=mu.device)
            values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles)
            z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")  # z2 grows upwards
            plane = torch.stack([z1, z2], dim=-1).view(-1, 2)
            manifold = self.decode_mean(plane).cpu()
            figures["manifold"] = image_grid(
                manifold, per_row=MANIFOLD_SIZE, padding=2, pad_value=0.5
            )
        return figures
