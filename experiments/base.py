"""The small face every experiment shows the runner.

The runner owns the loop (data order, devices, logging, checkpoints) and how an optimisation
step is taken; an experiment owns the science (models, losses, which optimizer steps on which
loss and when, what is measured). ``training_step`` computes a loss and hands it to
:meth:`Experiment.optimizer_step`, so schemes like a GAN's alternating updates need no special
case in the runner, and the runner can still wrap every step (mixed precision, clipping,
accumulation, schedules, gradient sync across processes) in one place.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim import Optimizer

Batch = tuple[Tensor, Tensor]
"""Images as floats in [0, 1], shape [B, C, H, W], and integer labels, shape [B]."""

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
"""Builds an optimizer over the given parameters with the settings the user chose."""

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LinePlot:
    """Curves over a common x axis that an experiment knows how to compute (a discriminator
    against the optimal one over x), for the runner to save and draw.

    ``lines`` maps a legend label to y values, each the length of ``x``.
    """

    x: Tensor
    lines: dict[str, Tensor]
    x_label: str = "x"
    y_label: str = ""
    title: str = ""
    styles: dict[str, str] = field(default_factory=dict)  # label → matplotlib format ("--")


@dataclass(frozen=True)
class Histogram:
    """A distribution by its bin counts and the ``len(counts) + 1`` edges of the bins."""

    counts: list[float]
    edges: list[float]


class OptimizerStep(Protocol):
    """Takes one optimisation step of ``optimizer`` on ``loss``."""

    def __call__(self, loss: Tensor, optimizer: Optimizer) -> None: ...


def plain_step(loss: Tensor, optimizer: Optimizer) -> None:
    """One optimisation step in plain PyTorch: clear the gradients, backpropagate, step.

    The gradients are cleared before the backward pass, not after the step, so that gradients
    another loss left behind (a GAN's generator loss reaches D's parameters too) never leak
    into this step.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class Experiment(nn.Module):
    """Base class of the experiments: models, losses and metrics of one paper.

    Subclasses declare the metrics they measure in ``training_metrics`` (what
    ``training_step`` returns) and ``evaluation_metrics`` (what ``evaluate`` returns), so the
    runner can check a run's objective names one of them before it trains.
    """

    training_metrics: ClassVar[tuple[str, ...]] = ()
    evaluation_metrics: ClassVar[tuple[str, ...]] = ()
    metric_goals: ClassVar[dict[str, str]] = {}
    """For each metric where higher or lower is better, which: ``"max"`` or ``"min"``, so a
    dashboard can show its best value; a metric without one (a KL term) is left out."""
    paper: ClassVar[str] = ""
    """The paper the experiment reproduces, in one word (``"stn"``), for tagging its runs."""
    step_service: OptimizerStep | None = None
    """How :meth:`optimizer_step` steps: None is :func:`plain_step`; the runner sets its own."""

    def metric_names(self, split: str) -> tuple[str, ...]:
        """The names of the metrics measured on ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return self.training_metrics if split == "train" else self.evaluation_metrics

    def use_step_service(self, service: OptimizerStep | None) -> None:
        """Take every optimisation step through ``service`` (None: :func:`plain_step`)."""
        self.step_service = service

    def optimizer_step(self, loss: Tensor, optimizer: Optimizer) -> None:
        """Step ``optimizer`` to decrease ``loss``; ``training_step`` calls this for every step."""
        (self.step_service or plain_step)(loss, optimizer)

    def configure_optimizers(self, make_optimizer: OptimizerFactory) -> dict[str, Optimizer]:
        """Build the optimizers, keyed by name. One optimizer over all parameters by default."""
        return {"model": make_optimizer(self.parameters())}

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        """Compute the losses of ``batch`` and step through :meth:`optimizer_step`; return
        detached scalar metrics, named as ``training_metrics`` declares.

        Metrics stay tensors so that the runner can average them on the device and read them
        back only when it logs, instead of synchronising on every step.
        """
        raise NotImplementedError

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """Metrics over a whole split (``"val"`` or ``"test"``), in eval mode, without gradients,
        named as ``evaluation_metrics`` declares.

        ``split`` lets an evaluation that is tuned on one split and reported on another (the
        GAN's Parzen window width, chosen on validation images) tell them apart.

        In a run of several processes, ``batches`` are this process's block of the split
        (perhaps none) and every process calls this at once; the result must be the whole
        split's. :func:`mean_over_batches` does that for per-sample means;
        :func:`gather_over_processes` and :func:`concatenate_over_processes` serve the rest.
        """
        raise NotImplementedError

    def figures(self, batch: Batch) -> dict[str, Tensor]:
        """Image grids (``[C, H, W]`` floats in [0, 1]) to save and log. None by default."""
        return {}

    def see_training_images(self, images: Tensor) -> None:
        """The training split's images (uint8 ``[N, C, H, W]``, on the training device), handed
        over once before training, for an experiment that compares what it makes with what
        it learnt from (the GAN's nearest training images). Ignored by default; an experiment
        that keeps them keeps a reference, not a copy, and never a part of its state."""

    def line_plots(self) -> dict[str, LinePlot]:
        """Curves of the experiment's state to save and draw, by name. None by default.

        The runner saves each as ``figures/<name>.json`` at every validation and draws it as
        ``figures/<name>.png``; a sweep draws one panel per job.
        """
        return {}


def mean_over_batches(
    batches: Iterable[Batch], measure: Callable[[Batch], dict[str, Tensor]]
) -> dict[str, float]:
    """Average per-sample sums of ``measure`` over every batch, weighting by batch size.

    ``measure`` returns, for one batch, the *sum* over its samples of each metric, so the
    result is an exact mean over the split whatever the batch sizes, and over the processes
    of a run that split the batches between them.
    """
    totals: dict[str, Tensor] = {}
    samples = 0
    for batch in batches:
        for name, value in measure(batch).items():
            totals[name] = totals.get(name, 0) + value.detach().double()
        samples += batch[0].shape[0]
    this_process = ({name: total.item() for name, total in totals.items()}, samples)
    sums: dict[str, float] = {}
    count = 0
    for process_sums, process_samples in gather_over_processes(this_process):
        count += process_samples
        for name, total in process_sums.items():
            sums[name] = sums.get(name, 0.0) + total
    if count == 0:
        raise ValueError("cannot evaluate on an empty split")
    return {name: total / count for name, total in sums.items()}


def gather_over_processes(value: Any) -> list[Any]:
    """``value`` (picklable) of every process of the run, in rank order; ``[value]`` alone
    in a one-process run."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def concatenate_over_processes(values: Tensor, dim: int = 0) -> Tensor:
    """The processes' ``values`` joined along ``dim`` in rank order: per-sample results of
    their blocks of a split, as one tensor for the whole split."""
    parts = gather_over_processes(values.cpu())
    return torch.cat(parts, dim=dim).to(values.device) if len(parts) > 1 else values


def sum_over_processes(*values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over the processes of the run."""
    return tuple(sum(column) for column in zip(*gather_over_processes(values), strict=True))


def start_in_split(count: int) -> int:
    """Where this process's block of ``count`` samples begins in the whole split: after the
    blocks of the processes of lower rank."""
    counts = gather_over_processes(count)
    rank = dist.get_rank() if len(counts) > 1 else 0
    return sum(counts[:rank])


def flat_size(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features ``module`` outputs per sample for inputs of ``input_shape``."""
    with torch.no_grad():
        return module(torch.zeros(1, *input_shape)).flatten(1).shape[1]


def image_grid(
    images: Tensor, per_row: int = 8, padding: int = 2, pad_value: float = 0.0
) -> Tensor:
    """Images ``[B, C, H, W]`` (values in [0, 1]) laid out ``per_row`` to a row, with
    ``padding`` pixels of ``pad_value`` between and around them: one ``[C, H', W']`` picture,
    grey images made RGB, as ``torchvision.utils.make_grid`` draws it (without importing
    torchvision, which takes a second)."""
    if images.size(1) == 1:
        images = images.expand(-1, 3, -1, -1)
    count, channels, height, width = images.shape
    if count == 1:
        return images[0]
    columns = min(per_row, count)
    rows = -(-count // columns)
    step_y, step_x = height + padding, width + padding
    grid = images.new_full(
        (channels, step_y * rows + padding, step_x * columns + padding), pad_value
    )
    for index in range(count):
        y, x = divmod(index, columns)
        top, left = y * step_y + padding, x * step_x + padding
        grid[:, top : top + height, left : left + width] = images[index]
    return grid
