"""The small face every experiment shows the runner.

The runner owns the loop (data order, devices, logging, checkpoints); an experiment owns the
science (models, losses, how one optimisation step is taken, what is measured). An experiment
owns its backward pass and optimizer steps so that schemes like a GAN's alternating updates
need no special case in the runner.
"""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

Batch = tuple[Tensor, Tensor]
"""Images as floats in [0, 1], shape [B, C, H, W], and integer labels, shape [B]."""

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
"""Builds an optimizer over the given parameters with the settings the user chose."""


class Experiment(nn.Module):
    """Base class of the experiments: models, losses and metrics of one paper."""

    def configure_optimizers(self, make_optimizer: OptimizerFactory) -> dict[str, Optimizer]:
        """Build the optimizers, keyed by name. One optimizer over all parameters by default."""
        return {"model": make_optimizer(self.parameters())}

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        """Take one optimisation step on ``batch``; return detached scalar metrics.

        Metrics stay tensors so that the runner can average them on the device and read them
        back only when it logs, instead of synchronising on every step.
        """
        raise NotImplementedError

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """Metrics over a whole split (``"val"`` or ``"test"``), in eval mode, without gradients.

        ``split`` lets an evaluation that is tuned on one split and reported on another (the
        GAN's Parzen window width, chosen on validation images) tell them apart.
        """
        raise NotImplementedError

    def figures(self, batch: Batch) -> dict[str, Tensor]:
        """Image grids (``[C, H, W]`` floats in [0, 1]) to save and log. None by default."""
        return {}


def mean_over_batches(
    batches: Iterable[Batch], measure: Callable[[Batch], dict[str, Tensor]]
) -> dict[str, float]:
    """Average per-sample sums of ``measure`` over every batch, weighting by batch size.

    ``measure`` returns, for one batch, the *sum* over its samples of each metric, so the
    result is an exact mean over the split whatever the batch sizes.
    """
    totals: dict[str, Tensor] = {}
    count = 0
    for batch in batches:
        for name, value in measure(batch).items():
            totals[name] = totals.get(name, 0) + value.detach().double()
        count += batch[0].shape[0]
    if count == 0:
        raise ValueError("cannot evaluate on an empty split")
    return {name: (total / count).item() for name, total in totals.items()}


def flat_size(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features ``module`` outputs per sample for inputs of ``input_shape``."""
    with torch.no_grad():
        return module(torch.zeros(1, *input_shape)).flatten(1).shape[1]
