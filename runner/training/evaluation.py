"""Evaluating an experiment on a split without disturbing its training."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from experiments.base import Batch, Experiment, LinePlot
from runner.data.loader import TensorLoader
from runner.platform.distributed import current_processes


@contextmanager
def evaluation(experiment: Experiment, seed: int) -> Iterator[None]:
    """Eval mode, no gradients, and random numbers of evaluation's own.

    Evaluation draws from a generator seeded afresh each time and leaves the training
    generator as it found it, so stochastic metrics (sampled latents, generated images) are
    comparable from one evaluation to the next, and validating never changes training: a run
    resumed from a checkpoint continues exactly as if it had not stopped.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        experiment.eval()
        try:
            yield
        finally:
            experiment.train()


def evaluate(
    experiment: Experiment, loader: TensorLoader | Iterable[Batch], split: str, seed: int
) -> dict[str, float]:
    """The experiment's metrics on a whole split, named ``<split>/<metric>``.

    In a run of several processes each evaluates its block of the split's batches and the
    experiment combines the blocks (``experiments.base.mean_over_batches`` and friends):
    the metrics are those of one process evaluating the whole split.
    """
    current_processes().share_buffers(experiment)
    with evaluation(experiment, seed):
        metrics = experiment.evaluate(seeded_batches(loader, seed), split)
    return {f"{split}/{name}": value for name, value in metrics.items()}


def seeded_batches(loader: TensorLoader | Iterable[Batch], seed: int) -> Iterable[Batch]:
    """The loader's batches (this process's block of them), each measured with random numbers of its own: batch number i is
    handed over right after seeding with ``(seed, i)``, and the generator is seeded with
    ``seed`` again once the batches are done.

    So a stochastic metric of a batch (a VAE's sampled latents) does not depend on which
    process measures it or on the batches before it, and what an experiment draws after the
    batches (a GAN's samples) is the same on every process.
    """
    numbered = loader.numbered_batches() if isinstance(loader, TensorLoader) else enumerate(loader)
    for number, batch in numbered:
        torch.manual_seed(seed + 1_000_003 * number)
        yield batch
    torch.manual_seed(seed)


def make_figures(experiment: Experiment, batch: Batch, seed: int) -> dict[str, Tensor]:
    """The experiment's image grids for ``batch``, drawn as an evaluation is."""
    with evaluation(experiment, seed):
        return experiment.figures(batch)


def make_line_plots(experiment: Experiment, seed: int) -> dict[str, LinePlot]:
    """The experiment's line plots, computed as an evaluation is."""
    with evaluation(experiment, seed):
        return experiment.line_plots()
