"""Generative Adversarial Nets (Goodfellow et al., 2014, arXiv 1406.2661).

A generator G maps noise z to images; a discriminator D tells real images from generated ones.
They play the minimax game

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))],

trained by Algorithm 1: k steps of gradient ascent on V for D, then one step for G. The
paper's "non-saturating" trick trains G to maximise log D(G(z)) instead of minimising
log(1 − D(G(z))), which gives much stronger gradients early on, when D rejects every sample.

The networks are the MLPs common in PyTorch reproductions (not the paper's maxout nets), and
the model is measured as in the paper's Table 1: a Parzen-window log-likelihood of test images
under a Gaussian kernel density estimate built on generated samples.

The end of the file holds the theory of §4 for 1-D distributions with known densities: the
optimal discriminator D* = p_d / (p_d + p_g) (Theorem 1) and V(D*, G) = −log 4 + 2·JS(p_d‖p_g)
(Theorem 2), by numerical integration, and a small trainer that shows a real D approaches D*.
"""

import copy
import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer

from experiments.base import (
    Batch,
    Experiment,
    LinePlot,
    OptimizerFactory,
    concatenate_over_processes,
    image_grid,
    plain_step,
    start_in_split,
    sum_over_processes,
)
from experiments.checks import check_numbers, check_positive, check_sizes

GENERATOR_LOSSES = ("non_saturating", "minimax")
NOISES = ("normal", "uniform")
PARZEN_SIGMAS = tuple(torch.logspace(-1, 0, 10, dtype=torch.float64).tolist())
"""The paper's grid of Parzen window widths: 10 values from 0.1 to 1, evenly spaced in log."""
FIGURE_SAMPLES = 100
FIGURE_NOISE_SEED = 1406


def mlp(sizes: Sequence[int], negative_slope: float, batch_norm_from: int | None) -> nn.Sequential:
    """Linear layers through ``sizes``, LeakyReLU after each hidden one, no final activation;
    BatchNorm before the activation of hidden layers from index ``batch_norm_from`` on."""
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(sizes) - 2:  # a hidden layer
            if batch_norm_from is not None and i >= batch_norm_from:
                layers.append(nn.BatchNorm1d(width_out))
            layers.append(nn.LeakyReLU(negative_slope))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """G: noise z → images in [−1, 1] (tanh), shape [B, C, H, W].

    BatchNorm on every hidden layer but the first, as in the common PyTorch setup.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        hidden_sizes: Sequence[int] = (128, 256, 512, 1024),
        image_shape: tuple[int, int, int] = (1, 28, 28),
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        sizes = [latent_dim, *hidden_sizes, math.prod(image_shape)]
        self.net = mlp(sizes, negative_slope, batch_norm_from=1)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.net(z)).view(-1, *self.image_shape)


class Discriminator(nn.Module):
    """D: images in [−1, 1] → one logit each, shape [B]; D(x) = sigmoid(logit).

    Logits rather than probabilities, so that log D and log(1 − D) are computed stably as
    logsigmoid(l) and logsigmoid(−l).
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (512, 256),
        image_shape: tuple[int, int, int] = (1, 28, 28),
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        sizes = [math.prod(image_shape), *hidden_sizes, 1]
        self.net = mlp(sizes, negative_slope, batch_norm_from=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def generator_loss(fake_logits: Tensor, kind: str) -> Tensor:
    """What G minimises: −log D(G(z)) (non-saturating) or log(1 − D(G(z))) (minimax).

    In float32 whatever the logits' precision: under bf16 autocast, logsigmoid of a confident
    logit keeps too few digits for the loss and its gradient.
    """
    fake_logits = fake_logits.float()
    if kind == "non_saturating":
        return -F.logsigmoid(fake_logits).mean()
    return F.logsigmoid(-fake_logits).mean()


def gradient_norm(parameters: Iterable[nn.Parameter]) -> Tensor:
    """The global norm of the parameters' gradients (those that have one), as a tensor: read
    back only when the runner logs it."""
    gradients = [p.grad.detach() for p in parameters if p.grad is not None]
    if not gradients:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(gradients)))


def value_estimate(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The minibatch estimate of V(D, G) = mean log D(x) + mean log(1 − D(G(z))), in float32
    (see :func:`generator_loss`)."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


def check_options(
    negative_slope: float, generator_loss: str, noise: str, d_optim: OptimizerFactory | None
) -> None:
    """Raise ``ValueError`` naming the first of these GAN settings that is not allowed."""
    if not 0 <= negative_slope < 1:
        raise ValueError(f"model.negative_slope must be in [0, 1), got {negative_slope!r}")
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(
            f"model.generator_loss must be non_saturating or minimax, got {generator_loss!r}"
        )
    if noise not in NOISES:
        raise ValueError(f"model.noise must be normal or uniform, got {noise!r}")
    if d_optim is not None and not callable(d_optim):
        raise ValueError(
            "model.d_optim must be null or an optimizer of the parameters "
            f"(a _partial_ optimizer node), got {d_optim!r}"
        )


def checked_sigmas(parzen_sigmas: Sequence[float]) -> tuple[float, ...]:
    """The Parzen window widths as floats; ``ValueError`` unless a non-empty list of positives."""
    sigmas = tuple(parzen_sigmas) if isinstance(parzen_sigmas, Iterable) else ()
    if not sigmas or not all(isinstance(s, int | float) and 0 < s < math.inf for s in sigmas):
        raise ValueError(
            f"model.parzen_sigmas must be a non-empty list of positive numbers, got {parzen_sigmas!r}"
        )
    return tuple(float(s) for s in sigmas)


class GAN(Experiment):
    """Generator and discriminator trained by the paper's Algorithm 1.

    Images reach D as 2x − 1 in [−1, 1], the range of G's tanh; generated images go back to
    [0, 1] (``sample``) for figures and for the Parzen-window likelihood.

    ``d_optim``, when given, builds the discriminator's optimizer (a callable of its
    parameters, such as a Hydra ``_partial_`` optimizer node) instead of the runner's shared
    factory, for separate learning rates (two time-scale updates).
    """

    training_metrics = ("d_loss", "g_loss", "d_real", "d_fake", "value", "g_grad_norm")
    evaluation_metrics = ("parzen_ll", "parzen_se", "parzen_sigma", "d_real", "d_fake")
    metric_goals = {"parzen_ll": "max"}
    paper = "gan"

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        latent_dim: int = 100,
        generator_sizes: Sequence[int] = (128, 256, 512, 1024),
        discriminator_sizes: Sequence[int] = (512, 256),
        negative_slope: float = 0.2,
        k_disc_steps: int = 1,
        generator_loss: str = "non_saturating",
        noise: str = "normal",
        d_optim: OptimizerFactory | None = None,
        parzen_samples: int = 10_000,
        parzen_val_images: int = 1_000,
        parzen_sigmas: Sequence[float] = PARZEN_SIGMAS,
        parzen_batch_size: int = 1_000,
    ) -> None:
        super().__init__()
        check_positive(
            in_channels=in_channels, image_size=image_size, latent_dim=latent_dim,
            k_disc_steps=k_disc_steps, parzen_samples=parzen_samples,
            parzen_val_images=parzen_val_images, parzen_batch_size=parzen_batch_size,
        )  # fmt: skip
        generator_sizes = check_sizes("generator_sizes", generator_sizes)
        discriminator_sizes = check_sizes("discriminator_sizes", discriminator_sizes)
        check_options(negative_slope, generator_loss, noise, d_optim)
        sigmas = checked_sigmas(parzen_sigmas)

        image_shape = (in_channels, image_size, image_size)
        self.generator = Generator(latent_dim, generator_sizes, image_shape, negative_slope)
        self.discriminator = Discriminator(discriminator_sizes, image_shape, negative_slope)
        self.latent_dim = latent_dim
        self.k_disc_steps = k_disc_steps
        self.generator_loss = generator_loss
        self.noise = noise
        self.d_optim = d_optim
        self.parzen_samples = parzen_samples
        self.parzen_val_images = parzen_val_images
        self.parzen_sigmas = sigmas
        self.parzen_batch_size = parzen_batch_size

        # State that checkpoints must carry: the number of training_step calls (the place in
        # Algorithm 1's rhythm of k D steps per G step), the noise of the figures (the same z
        # every epoch) and the Parzen width chosen on validation images (NaN: none yet).
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        figure_rng = torch.Generator().manual_seed(FIGURE_NOISE_SEED)
        self.register_buffer("fixed_noise", self.sample_noise(FIGURE_SAMPLES, figure_rng))
        self.register_buffer("parzen_sigma", torch.tensor(math.nan, dtype=torch.float64))
        # A host copy of ``calls``, so that deciding whether to step G never waits for the
        # device; refreshed from the buffer whenever a state_dict is loaded.
        self._calls: int | None = None
        self.register_load_state_dict_post_hook(GAN._forget_calls)
        self.training_images: Tensor | None = None  # see_training_images; never checkpointed

    def _forget_calls(self, incompatible_keys: object = None) -> None:
        self._calls = None

    # --- sampling ---

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n noise vectors z: standard normal, or uniform in [−1, 1]."""
        shape, device = (n, self.latent_dim), self.calls.device
        if self.noise == "normal":
            return torch.randn(shape, generator=generator, device=device)
        return 2 * torch.rand(shape, generator=generator, device=device) - 1

    def sample(self, n: int) -> Tensor:
        """n generated images in [0, 1], shape [n, C, H, W], made ``parzen_batch_size`` at a time."""
        noise = self.sample_noise(n)
        return torch.cat([(self.generator(z) + 1) / 2 for z in noise.split(self.parzen_batch_size)])

    # --- training ---

    def configure_optimizers(self, make_optimizer: OptimizerFactory) -> dict[str, Optimizer]:
        make_d_optimizer = self.d_optim if self.d_optim is not None else make_optimizer
        return {
            "generator": make_optimizer(self.generator.parameters()),
            "discriminator": make_d_optimizer(self.discriminator.parameters()),
        }

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        """One D step on this real batch and as many fresh noise vectors; every k-th call, also
        one G step on new noise (Algorithm 1, with one real minibatch per call).

        Metrics are those of D before its step: ``d_loss`` = −V (what D minimises),
        ``value`` = V, ``d_real`` = mean D(x) and ``d_fake`` = mean D(G(z)). ``g_loss`` is
        the loss G stepped on, on calls with a G step; on the other calls it is the same loss
        for the current G on the D step's noise, measured without a step. ``g_grad_norm``,
        on calls with a G step only, is the norm of the gradient G stepped on: where D
        rejects G's samples confidently, small for the minimax loss and large for the
        non-saturating one (the paper's reason for the latter).
        """
        images = batch[0]
        real = 2 * images - 1
        m = real.shape[0]
        if self._calls is None:
            self._calls = int(self.calls)
        self._calls += 1
        self.calls.fill_(self._calls)

        # Discriminator: ascend V, i.e. descend −V = BCE(D(x), 1) + BCE(D(G(z)), 0).
        with torch.no_grad():
            fake = self.generator(self.sample_noise(m))
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake)
        value = value_estimate(real_logits, fake_logits)
        d_loss = -value
        self.optimizer_step(d_loss, optimizers["discriminator"])
        g_loss = generator_loss(fake_logits.detach(), self.generator_loss)
        metrics: dict[str, Tensor] = {}

        # Generator: descend its loss through the updated D.
        if self._calls % self.k_disc_steps == 0:
            g_loss = generator_loss(
                self.discriminator(self.generator(self.sample_noise(m))), self.generator_loss
            )
            # G's backward also fills D's gradients; D's next step clears them first.
            self.optimizer_step(g_loss, optimizers["generator"])
            metrics["g_grad_norm"] = gradient_norm(self.generator.parameters())

        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits).mean().detach(),
            "d_fake": torch.sigmoid(fake_logits).mean().detach(),
            "value": value.detach(),
        } | metrics

    # --- evaluation ---

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """Parzen-window log-likelihood (nats) of the split's images, as in Table 1.

        ``parzen_samples`` images are generated; on ``"val"`` the window width σ is chosen
        from ``parzen_sigmas`` by the mean log-likelihood of the first ``parzen_val_images``
        images, remembered, and those images' mean (``parzen_ll``) and standard error
        (``parzen_se`` = std/√n) are reported. On ``"test"`` the remembered σ is used on every
        image of the split; if no σ was chosen yet, it is chosen first, on the first
        ``parzen_val_images`` images of the test split itself (an optimistic shortcut; run a
        validation first to follow the paper). Also ``d_real`` = mean D(x) over the split's
        images and ``d_fake`` = mean D(G(z)) over the generated ones.
        """
        images = [batch[0] for batch in batches]
        images = (
            torch.cat(images)
            if images
            else self.fixed_noise.new_empty((0, *self.generator.image_shape))
        )
        samples = self.sample(self.parzen_samples)
        # Float64: squared distances of 784-d images, divided by 2σ² with σ down to 0.1.
        x, generated = images.flatten(1).double(), samples.flatten(1).double()
        batch_size = self.parzen_batch_size
        if split == "val" or self.parzen_sigma.isnan():
            first = x[: max(0, self.parzen_val_images - start_in_split(len(x)))]
            per_sigma = parzen_log_likelihoods(first, generated, self.parzen_sigmas, batch_size)
            per_sigma = concatenate_over_processes(per_sigma, dim=1)
            sigma, log_likelihoods = best_sigma(per_sigma, self.parzen_sigmas)
            self.parzen_sigma.fill_(sigma)
        if split != "val":
            sigma = self.parzen_sigma.item()
            log_likelihoods = parzen_log_likelihood(x, generated, sigma, batch_size)
            log_likelihoods = concatenate_over_processes(log_likelihoods)
        d_real_sum, count = sum_over_processes(self.sum_d(2 * images - 1), len(images))
        if count == 0:
            raise ValueError("cannot evaluate on an empty split")
        return {
            "parzen_ll": log_likelihoods.mean().item(),
            "parzen_se": standard_error(log_likelihoods),
            "parzen_sigma": sigma,
            "d_real": d_real_sum / count,
            "d_fake": self.sum_d(2 * samples - 1) / len(samples),
        }

    def sum_d(self, x: Tensor) -> float:
        """The sum of D(x) over images in [−1, 1], ``parzen_batch_size`` at a time."""
        logits = [self.discriminator(chunk) for chunk in x.split(self.parzen_batch_size)]
        return torch.sigmoid(torch.cat(logits)).double().sum().item()

    def see_training_images(self, images: Tensor) -> None:
        self.training_images = images

    def figures(self, batch: Batch) -> dict[str, Tensor]:
        """``samples``: 100 samples of the same fixed noise every time, 10 per row, progress
        at a glance. ``nearest`` (the paper's Figure 2): the first samples, each beside the
        training image nearest to it, to show the net does not memorise. ``interpolations``
        (Figure 3): rows of images along straight lines between fixed points of z."""
        with torch.no_grad():
            images = (self.generator(self.fixed_noise) + 1) / 2
            grids = {"samples": image_grid(images.cpu(), per_row=10, padding=2, pad_value=0.5)}
            if self.training_images is not None:
                grids["nearest"] = self.nearest_figure(images[:NEAREST_SAMPLES])
            grids["interpolations"] = self.interpolation_figure()
        return grids

    def nearest_figure(self, samples: Tensor) -> Tensor:
        """Sample, nearest training image, sample, nearest, ...: five pairs to a row."""
        nearest = nearest_images(samples, self.training_images)
        pairs = torch.stack([samples, nearest], dim=1).flatten(0, 1)
        return image_grid(pairs.cpu(), per_row=10, padding=2, pad_value=0.5)

    def interpolation_figure(self) -> Tensor:
        """Each row walks in ``INTERPOLATION_STEPS`` equal steps from one fixed noise vector
        to the next (the ``fixed_noise`` of ``samples``), through G."""
        ends = self.fixed_noise[: INTERPOLATION_ROWS + 1]
        weights = torch.linspace(0, 1, INTERPOLATION_STEPS, device=ends.device).view(1, -1, 1)
        walks = ends[:-1, None] * (1 - weights) + ends[1:, None] * weights
        images = (self.generator(walks.flatten(0, 1)) + 1) / 2
        return image_grid(images.cpu(), per_row=INTERPOLATION_STEPS, padding=2, pad_value=0.5)


NEAREST_SAMPLES = 20  # pairs in the nearest-training-image figure
NEAREST_BLOCK = 8192  # training images compared at once: bounds the distance matrix's memory
INTERPOLATION_ROWS, INTERPOLATION_STEPS = 6, 10


def nearest_images(samples: Tensor, training_images: Tensor) -> Tensor:
    """For each sample (floats in [0, 1], ``[n, C, H, W]``), the training image (uint8) at
    the smallest Euclidean distance in pixel space, as floats in [0, 1].

    One ``torch.cdist`` per block of training images; the blocks' minima are combined, so
    the whole training set is searched with at most ``n × NEAREST_BLOCK`` distances held."""
    flat = samples.flatten(1).float()
    best = torch.full((len(flat),), math.inf, device=flat.device)
    best_index = torch.zeros(len(flat), dtype=torch.long, device=flat.device)
    for start in range(0, len(training_images), NEAREST_BLOCK):
        block = training_images[start : start + NEAREST_BLOCK].flatten(1).to(flat) / 255
        distance, index = torch.cdist(flat, block).min(dim=1)
        closer = distance < best
        best = torch.where(closer, distance, best)
        best_index = torch.where(closer, index + start, best_index)
    return training_images[best_index].to(samples.dtype) / 255


# --- Parzen-window log-likelihood (Table 1) ---


def parzen_log_likelihoods(
    x: Tensor, samples: Tensor, sigmas: Sequence[float], batch_size: int
) -> Tensor:
    """log p̂_σ(x) for each window width σ and each row of ``x``, shape [len(sigmas), N].

    p̂_σ is the Gaussian kernel density estimate on the n ``samples`` (rows of dimension d):

        log p̂_σ(x) = log Σ_i exp(−‖x − s_i‖² / 2σ²) − log n − (d/2)·log(2πσ²).

    Rows of ``x`` and of ``samples`` are taken ``batch_size`` at a time, the sums combined
    with log-sum-exp, so at most len(sigmas)·batch_size² terms are held at once; each
    block's squared distances serve every σ.
    """
    n, d = samples.shape
    sigma = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    sample_norms = samples.square().sum(1)
    parts = []
    for x_block in x.split(batch_size):
        x_norms = x_block.square().sum(1, keepdim=True)
        log_sum = torch.full((len(sigma), len(x_block)), -math.inf, dtype=x.dtype, device=x.device)
        for s_block, s_norms in zip(
            samples.split(batch_size), sample_norms.split(batch_size), strict=True
        ):
            squared_distances = (x_norms + s_norms - 2 * x_block @ s_block.T).clamp_min(0)
            block_sum = torch.logsumexp(-squared_distances / (2 * sigma**2), dim=2)
            log_sum = torch.logaddexp(log_sum, block_sum)
        parts.append(log_sum)
    log_normaliser = math.log(n) + d / 2 * torch.log(2 * math.pi * sigma.view(-1, 1) ** 2)
    return torch.cat(parts, dim=1) - log_normaliser


def parzen_log_likelihood(x: Tensor, samples: Tensor, sigma: float, batch_size: int) -> Tensor:
    """log p̂_σ(x) for each row of ``x`` under the kernel density estimate on ``samples``."""
    return parzen_log_likelihoods(x, samples, [sigma], batch_size)[0]


def choose_sigma(
    x: Tensor, samples: Tensor, sigmas: Sequence[float], batch_size: int
) -> tuple[float, Tensor]:
    """The σ of ``sigmas`` that maximises the mean log-likelihood of ``x``, and those values."""
    return best_sigma(parzen_log_likelihoods(x, samples, sigmas, batch_size), sigmas)


def best_sigma(log_likelihoods: Tensor, sigmas: Sequence[float]) -> tuple[float, Tensor]:
    """Of ``log_likelihoods`` [len(sigmas), N], the σ with the highest mean, and its row."""
    best = int(log_likelihoods.mean(1).argmax())
    return float(sigmas[best]), log_likelihoods[best]


def standard_error(values: Tensor) -> float:
    """std/√n, the paper's error bar on a mean over n test images (0 for a single image)."""
    if values.numel() < 2:
        return 0.0
    return (values.std() / math.sqrt(values.numel())).item()


# --- The theory of §4, for 1-D densities ---

Density = Callable[[Tensor], Tensor]


def normal_density(mean: float = 0.0, std: float = 1.0) -> Density:
    """The density of N(mean, std²)."""
    return lambda x: torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def uniform_density(mean: float = 0.0, std: float = 1.0) -> Density:
    """The density of the uniform distribution with this mean and standard deviation: flat
    on [mean − √3·std, mean + √3·std]."""
    half_width = math.sqrt(3) * std
    return lambda x: ((x - mean).abs() <= half_width).to(x.dtype) / (2 * half_width)


DENSITY_FAMILIES = {"normal": normal_density, "uniform": uniform_density}


def default_grid() -> Tensor:
    """Points to integrate on: [−30, 30] in steps of 0.001, in float64."""
    return torch.linspace(-30, 30, 60_001, dtype=torch.float64)


def optimal_discriminator(x: Tensor, p_data: Density, p_model: Density) -> Tensor:
    """D*(x) = p_d(x) / (p_d(x) + p_g(x)) (Theorem 1); 1/2 where both densities vanish."""
    p, q = p_data(x), p_model(x)
    total = p + q
    return torch.where(total > 0, p / total.where(total > 0, 1), 0.5)


def value_function(
    discriminator: Callable[[Tensor], Tensor],
    p_data: Density,
    p_model: Density,
    grid: Tensor | None = None,
) -> float:
    """V(D, G) = ∫ p_d log D + p_g log(1 − D) dx, by the trapezoid rule on ``grid``.

    ``discriminator`` maps points to probabilities D(x). ``xlogy`` makes 0·log 0 = 0, so a
    D of exactly 0 or 1 where the matching density vanishes costs nothing, as it should.
    """
    x = default_grid() if grid is None else grid
    d = discriminator(x)
    integrand = torch.xlogy(p_data(x), d) + torch.xlogy(p_model(x), 1 - d)
    return torch.trapezoid(integrand, x).item()


def value_at_optimum(p_data: Density, p_model: Density, grid: Tensor | None = None) -> float:
    """V(D*, G), which Theorem 2 says is −log 4 + 2·JS(p_d‖p_g).

    With D* = p/(p + q) the integrand is p log p + q log q − (p + q) log(p + q): written so,
    it stays finite where one density is vanishingly small beside the other, where 1 − D*
    would round to 0.
    """
    x = default_grid() if grid is None else grid
    p, q = p_data(x), p_model(x)
    integrand = torch.xlogy(p, p) + torch.xlogy(q, q) - torch.xlogy(p + q, p + q)
    return torch.trapezoid(integrand, x).item()


def js_divergence(p_data: Density, p_model: Density, grid: Tensor | None = None) -> float:
    """JS(p‖q) = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, by the trapezoid rule on ``grid``.

    The integrand is written as ½[p log p + q log q − (p + q) log m], finite as above.
    """
    x = default_grid() if grid is None else grid
    p, q = p_data(x), p_model(x)
    m = (p + q) / 2
    integrand = (torch.xlogy(p, p) + torch.xlogy(q, q) - torch.xlogy(p + q, m)) / 2
    return torch.trapezoid(integrand, x).item()


def wasserstein_1(p_data: Density, p_model: Density, grid: Tensor | None = None) -> float:
    """W1(p, q) = ∫ |F_p − F_q| dx in one dimension (F: the distribution functions, by the
    cumulative trapezoid rule on ``grid``): the work of moving one density onto the other,
    which keeps growing with their distance where JS stops at log 2."""
    x = default_grid() if grid is None else grid
    f_p = torch.cumulative_trapezoid(p_data(x), x)
    f_q = torch.cumulative_trapezoid(p_model(x), x)
    return torch.trapezoid((f_p - f_q).abs(), x[1:]).item()


def train_discriminator_1d(
    sample_data: Callable[[int], Tensor],
    sample_model: Callable[[int], Tensor],
    steps: int = 2000,
    batch_size: int = 1024,
    hidden: int = 64,
    lr: float = 3e-3,
) -> nn.Module:
    """A small MLP D trained by D's side of Algorithm 1 with G fixed (the inner max of V).

    ``sample_data(n)`` and ``sample_model(n)`` draw n points of p_d and p_g. The returned
    module maps points [N] to probabilities D(x) [N]. The learning rate decays to zero along
    a cosine so that the minibatch noise averages out and D settles near D*.
    """
    net = nn.Sequential(
        nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        real = sample_data(batch_size).float().view(-1, 1)
        fake = sample_model(batch_size).float().view(-1, 1)
        loss = -(F.logsigmoid(net(real)).mean() + F.logsigmoid(-net(fake)).mean())
        plain_step(loss, optimizer)
        schedule.step()
    return Probability(net)


class Probability(nn.Module):
    """Wraps a logit network on scalars: points [N] → sigmoid(logits) [N], in the net's dtype."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        dtype = next(self.net.parameters()).dtype
        return torch.sigmoid(self.net(x.to(dtype).view(-1, 1))).view(x.shape).to(x.dtype)


class GANTheory(Experiment):
    """Theorem 1 in the runner: D trained against a fixed generator approaches D*.

    p_d (mean ``data_mean``, standard deviation ``data_std``) and a fixed p_g (``model_mean``,
    ``model_std``) are 1-D densities known in closed form, normal or uniform (``family``), so
    every evaluation can compare the trained discriminator with D* = p_d/(p_d + p_g) and its
    value V(D, G) with V(D*, G) = −log 4 + 2·JS(p_d‖p_g). It also reports JS itself and the
    Wasserstein-1 distance: two uniform densities that do not overlap have JS = log 2 however
    far apart they are, while W1 grows with the distance (the limitation §4's theory leaves).
    The experiment draws its own samples: the runner's image batches only pace its steps.
    """

    training_metrics = ("d_loss", "value")
    evaluation_metrics = ("d_error", "value", "value_at_optimum", "theorem_2", "js", "wasserstein")
    metric_goals = {"d_error": "min", "js": "min", "wasserstein": "min"}
    paper = "gan"

    def __init__(
        self,
        data_mean: float = 0.0,
        data_std: float = 1.0,
        model_mean: float = 1.0,
        model_std: float = 1.0,
        hidden: int = 64,
        samples_per_step: int = 1024,
        family: str = "normal",
    ) -> None:
        super().__init__()
        check_numbers(data_mean=data_mean, data_std=data_std, model_mean=model_mean,
                      model_std=model_std)  # fmt: skip
        for name, value in (("data_std", data_std), ("model_std", model_std)):
            if not value > 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        if family not in DENSITY_FAMILIES:
            raise ValueError(f"model.family must be normal or uniform, got {family!r}")
        check_positive(hidden=hidden, samples_per_step=samples_per_step)
        self.family = family
        self.data_mean, self.data_std = data_mean, data_std
        self.model_mean, self.model_std = model_mean, model_std
        self.samples_per_step = samples_per_step
        self.discriminator = nn.Sequential(
            nn.Linear(1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def configure_optimizers(self, make_optimizer: OptimizerFactory) -> dict[str, Optimizer]:
        return {"discriminator": make_optimizer(self.discriminator.parameters())}

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        """One ascent step of D on V, with fresh samples of p_d and p_g (the batch is unused)."""
        n, device = self.samples_per_step, next(self.parameters()).device
        real = self.draw(n, self.data_mean, self.data_std, device)
        fake = self.draw(n, self.model_mean, self.model_std, device)
        value = value_estimate(self.discriminator(real), self.discriminator(fake))
        self.optimizer_step(-value, optimizers["discriminator"])
        return {"d_loss": -value.detach(), "value": value.detach()}

    def draw(self, n: int, mean: float, std: float, device: torch.device) -> Tensor:
        """n samples [n, 1] of the family's distribution with this mean and deviation."""
        if self.family == "normal":
            return torch.randn(n, 1, device=device) * std + mean
        return (2 * torch.rand(n, 1, device=device) - 1) * math.sqrt(3) * std + mean

    def densities(self) -> tuple[Density, Density]:
        density = DENSITY_FAMILIES[self.family]
        return density(self.data_mean, self.data_std), density(self.model_mean, self.model_std)

    def bulk_grid(self, points: int = 601) -> Tensor:
        """Points over the bulk of both densities: ±3 standard deviations of a normal one,
        the whole support of a uniform one."""
        reach = 3.0 if self.family == "normal" else math.sqrt(3)
        low = min(self.data_mean - reach * self.data_std, self.model_mean - reach * self.model_std)
        high = max(self.data_mean + reach * self.data_std, self.model_mean + reach * self.model_std)
        return torch.linspace(low, high, points, dtype=torch.float64)

    def integration_grid(self) -> Tensor:
        """Where the integrals are taken: :func:`default_grid` for normal densities; for
        uniform ones, their supports and a margin in 200,000 steps, fine enough that the
        densities' jumps cost the integrals less than 1e-4."""
        if self.family == "normal":
            return default_grid()
        bulk = self.bulk_grid(2)
        return torch.linspace(bulk[0].item() - 1, bulk[1].item() + 1, 200_001, dtype=torch.float64)

    def trained_discriminator(self) -> "Probability":
        """A CPU copy of D as probabilities, for the integrals."""
        return Probability(copy.deepcopy(self.discriminator).cpu())

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """D against D* on a grid over the bulk of both densities, and V against the theorem."""
        p_data, p_model = self.densities()
        grid = self.bulk_grid()
        trained = self.trained_discriminator()
        where_either = (p_data(grid) + p_model(grid)) > 0  # D* says nothing where both vanish
        gap = trained(grid) - optimal_discriminator(grid, p_data, p_model)
        integration = self.integration_grid()
        js = js_divergence(p_data, p_model, integration)
        return {
            "d_error": gap[where_either].abs().mean().item(),
            "value": value_function(trained, p_data, p_model, integration),
            "value_at_optimum": value_at_optimum(p_data, p_model, integration),
            "theorem_2": -math.log(4) + 2 * js,
            "js": js,
            "wasserstein": wasserstein_1(p_data, p_model, integration),
        }

    def line_plots(self) -> dict[str, LinePlot]:
        """The trained D and D* = p_d/(p_d + p_g) over x, with the two densities (Theorem 1)."""
        p_data, p_model = self.densities()
        grid = self.bulk_grid(241)
        with torch.no_grad():
            trained = self.trained_discriminator()(grid)
        lines = {
            "D (trained)": trained,
            "D*": optimal_discriminator(grid, p_data, p_model),
            "p_data": p_data(grid),
            "p_g": p_model(grid),
        }
        return {
            "discriminator": LinePlot(
                grid, lines, x_label="x", y_label="D(x), density",
                title=f"D and D* for a {self.family} p_g of mean {self.model_mean:g}, sd {self.model_std:g}",
                styles={"D*": "--", "p_data": ":", "p_g": ":"},
            )
        }  # fmt: skip


def theory_check(model_means: Sequence[float] = (0.0, 0.5, 1.0, 2.0), seed: int = 0) -> list[dict]:
    """§4 measured against the theorems, with p_d = N(0, 1) and p_g = N(μ, 1) for each μ.

    For each μ a discriminator is trained on samples of both, and compared with D*: its mean
    distance to D* over [−3, 3], the value V it reaches, and V(D*, G) = −log 4 + 2·JS.
    """
    torch.manual_seed(seed)
    p_data, grid = normal_density(), torch.linspace(-3, 3, 601, dtype=torch.float64)
    rows = []
    for mean in model_means:
        p_model = normal_density(mean)
        trained = train_discriminator_1d(torch.randn, lambda n, mean=mean: torch.randn(n) + mean)
        with torch.no_grad():
            error = (trained(grid) - optimal_discriminator(grid, p_data, p_model)).abs().mean()
            value = value_function(trained, p_data, p_model)
        rows.append({
            "mu": mean,
            "mean |D - D*|": error.item(),
            "V(D, G) trained": value,
            "V(D*, G)": value_at_optimum(p_data, p_model),
            "-log 4 + 2 JS": -math.log(4) + 2 * js_divergence(p_data, p_model),
        })  # fmt: skip
    return rows


if __name__ == "__main__":  # python -m experiments.gan: the theory check of §4, printed
    results = theory_check()
    print("  ".join(f"{name:>16}" for name in results[0]))
    for row in results:
        print("  ".join(f"{value:>16.4f}" for value in row.values()))
