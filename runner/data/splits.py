"""The splits of a dataset: validation held out of training, and (STN paper, Table 1) which
seed distorts which split, once or per epoch.

The test and validation sets are distorted once, with seeds that depend only on
``data.distortion_seed``: every run, whatever its own seed, is measured on the same images.
The training set is distorted once as well, or afresh at the start of every epoch
(``data.resample_each_epoch``) with a seed drawn from the epoch, so a resumed run sees the
images an uninterrupted one would have.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from runner.data.distortions import distort
from runner.data.loader import EpochImages, ImageSet
from runner.platform.errors import ConfigError


@dataclass(frozen=True)
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet

    def first(self, count: int) -> "Splits":
        """The first ``count`` samples of each split (``data.subset``: a quick look at a config)."""
        return Splits(*(split.first(count) for split in (self.train, self.val, self.test)))


def make_splits(train: ImageSet, test: ImageSet, val_size: int, device: torch.device) -> Splits:
    """Hold out the last ``val_size`` training samples for validation; move all to ``device``."""
    if not 0 < val_size < len(train):
        raise ConfigError(
            f"data.val_size must be between 1 and {len(train) - 1} (the training set has {len(train)} samples); got {val_size}"
        )
    fit, val = train.split_off(val_size)
    return Splits(fit.to(device), val.to(device), test.to(device))


SPLIT_STREAMS = {"test": 0, "val": 1, "train": 2}


def split_seed(distortion_seed: int, split: str, epoch: int = 0) -> int:
    """The seed that distorts ``split`` (in ``epoch``, when training images are redrawn)."""
    return (distortion_seed * 1_000_003 + SPLIT_STREAMS[split]) * 1_000_003 + epoch


def distorted(images: ImageSet, kind: str, seed: int) -> ImageSet:
    return ImageSet(distort(images.images, kind, seed), images.labels)


def distort_splits(splits: Splits, kind: str, distortion_seed: int, each_epoch: bool) -> Splits:
    """Validation and test distorted once; training once too, unless it is redrawn each epoch."""
    if kind == "none":
        return splits
    train = (
        splits.train
        if each_epoch
        else distorted(splits.train, kind, split_seed(distortion_seed, "train"))
    )
    return Splits(
        train,
        distorted(splits.val, kind, split_seed(distortion_seed, "val")),
        distorted(splits.test, kind, split_seed(distortion_seed, "test")),
    )


def epoch_distortion(kind: str, distortion_seed: int) -> EpochImages:
    """The training images of each epoch, distorted with that epoch's seed."""

    def images_for_epoch(images: Tensor, epoch: int) -> Tensor:
        return distort(images, kind, split_seed(distortion_seed, "train", epoch))

    return images_for_epoch
