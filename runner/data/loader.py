"""Image datasets held as tensors on the training device, and batches drawn from them by index.

MNIST-sized datasets fit in a few tens of megabytes as uint8, so the whole split lives on the
device once; a batch is one gather by a slice of a seeded permutation and one conversion to
float. There is no per-sample Python work and no worker process in the hot loop.

In a run of several processes each loader holds the whole split and takes its share of it:
in training, a disjoint part of every batch; in evaluation, a block of whole batches.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from runner.platform.distributed import ONE_PROCESS, Processes
from runner.platform.errors import ConfigError

Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 ``[N, C, H, W]`` and integer labels ``[N]``, on one device."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {self.images.dtype} {list(self.images.shape)}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"need one label per image, got {list(self.labels.shape)} for {len(self.images)} images"
            )

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device) -> "ImageSet":
        return ImageSet(self.images.to(device), self.labels.to(device))

    def first(self, count: int) -> "ImageSet":
        return ImageSet(self.images[:count], self.labels[:count])

    def split_off(self, count: int) -> tuple["ImageSet", "ImageSet"]:
        """The first ``len - count`` samples and the last ``count``: a fixed validation split."""
        keep = len(self) - count
        return (
            ImageSet(self.images[:keep], self.labels[:keep]),
            ImageSet(self.images[keep:], self.labels[keep:]),
        )


EpochImages = Callable[[Tensor, int], Tensor]
"""Given a split's images and an epoch, the images to train on in that epoch."""


class TensorLoader:
    """Batches of an :class:`ImageSet`, as floats in [0, 1], in a seeded order per epoch.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run that knows its
    epoch and batch position draws exactly the batches an uninterrupted run would have drawn.
    ``images_for_epoch``, when given, makes each epoch's images afresh from the split's (a
    distortion drawn anew, seeded by the epoch), for the whole split at once.

    ``processes`` says which share is this process's: every rank draws the same order and
    takes its part of each batch (:meth:`batches`, for training), or a block of whole
    batches (:meth:`numbered_batches`, for evaluation).
    """

    def __init__(  # noqa: PLR0913 (keyword-only options, as torch's DataLoader takes them)
        self,
        data: ImageSet,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        images_for_epoch: EpochImages | None = None,
        processes: Processes = ONE_PROCESS,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be a positive integer; got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last and len(data) >= batch_size
        self.images_for_epoch = images_for_epoch
        self.processes = processes
        self._epoch_images: tuple[int, Tensor] | None = None

    def images(self, epoch: int) -> Tensor:
        if self.images_for_epoch is None:
            return self.data.images
        if self._epoch_images is None or self._epoch_images[0] != epoch:
            self._epoch_images = (epoch, self.images_for_epoch(self.data.images, epoch))
        return self._epoch_images[1]

    def __len__(self) -> int:
        """Batches per epoch (of the whole split, shared by the processes)."""
        full, rest = divmod(len(self.data), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> Tensor:
        """The sample indices of ``epoch``, on the data's device."""
        if not self.shuffle:
            return torch.arange(len(self.data), device=self.data.images.device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.data), generator=generator).to(self.data.images.device)

    def batch_indices(self, order: Tensor, number: int) -> Tensor:
        return order[number * self.batch_size : (number + 1) * self.batch_size]

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch`` from batch number ``start`` on: of each, this process's
        part (rank r of N takes the r-th of N equal slices)."""
        order, images = self.order(epoch), self.images(epoch)
        rank, count = self.processes.rank, self.processes.count
        for number in range(start, len(self)):
            indices = self.batch_indices(order, number)
            if count > 1:
                indices = indices.tensor_split(count)[rank]
            yield images[indices].float().div_(255), self.data.labels[indices]

    def numbered_batches(self) -> Iterator[tuple[int, Batch]]:
        """This process's block of whole batches of epoch 0, with their numbers: rank r of N
        takes the r-th of N runs of consecutive batches, so the blocks in rank order are the
        split in order."""
        order, images = self.order(0), self.images(0)
        numbers = torch.arange(len(self)).tensor_split(self.processes.count)[self.processes.rank]
        for number in numbers.tolist():
            indices = self.batch_indices(order, number)
            yield number, (images[indices].float().div_(255), self.data.labels[indices])

    def __iter__(self) -> Iterator[Batch]:
        """This process's whole batches of epoch 0 (all of them in a one-process run)."""
        return (batch for _, batch in self.numbered_batches())


@dataclass(frozen=True)
class Loaders:
    """The batches of a run: shuffled training batches, and validation and test in order."""

    train: TensorLoader
    val: TensorLoader
    test: TensorLoader
