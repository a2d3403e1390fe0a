"""Evaluating an experiment on a split without disturbing its training."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from experiments.base import Batch, Experiment
from runner.data.loader import TensorLoader


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
    experiment: Experiment, loader: TensorLoader, split: str, seed: int
) -> dict[str, float]:
    """The experiment's metrics on a whole split, named ``<split>/<metric>``."""
    with evaluation(experiment, seed):
        metrics = experiment.evaluate(loader, split)
    return {f"{split}/{name}": value for name, value in metrics.items()}


def make_figures(experiment: Experiment, batch: Batch, seed: int) -> dict[str, Tensor]:
    """The experiment's image grids for ``batch``, drawn as an evaluation is."""
    with evaluation(experiment, seed):
        return experiment.figures(batch)
