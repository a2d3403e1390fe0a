"""From a dataset to a run's loaders: validation held out, a subset taken, the distortions
applied, the images checked against the settings that describe them, and batches drawn."""

import torch

from runner.data.loader import ImageSet, Loaders, TensorLoader
from runner.data.settings import DataSettings
from runner.data.splits import distort_splits, epoch_distortion, make_splits
from runner.platform.distributed import ONE_PROCESS, Processes
from runner.platform.errors import ConfigError


def build_loaders(
    settings: DataSettings,
    dataset: tuple[ImageSet, ImageSet],
    seed: int,
    device: torch.device,
    processes: Processes = ONE_PROCESS,
) -> Loaders:
    """The training and test sets of ``dataset``, split and batched as ``settings`` say, on
    ``device``; each loader takes this process's share of its split."""
    train, test = dataset
    splits = make_splits(train, test, settings.val_size, device)
    classes = int(max(train.labels.max(), test.labels.max())) + 1  # before a subset leaves some out
    if settings.subset is not None:
        splits = splits.first(settings.subset)
    each_epoch = settings.redistorts_each_epoch
    splits = distort_splits(splits, settings.distortion, settings.distortion_seed, each_epoch)
    check_shape(splits.test, classes, settings)
    redistort = (
        epoch_distortion(settings.distortion, settings.distortion_seed) if each_epoch else None
    )
    evaluation = {"shuffle": False, "processes": processes}
    return Loaders(
        train=TensorLoader(
            splits.train, settings.batch_size, shuffle=True, seed=seed, drop_last=True,
            images_for_epoch=redistort, processes=processes,
        ),
        val=TensorLoader(splits.val, settings.eval_batch_size, **evaluation),
        test=TensorLoader(splits.test, settings.eval_batch_size, **evaluation),
    )  # fmt: skip


def check_shape(images: ImageSet, classes: int, settings: DataSettings) -> None:
    """The settings that describe the images (models read them) must match the images and
    the dataset's number of classes."""
    _, channels, height, width = images.images.shape
    for key, stated, actual in (
        ("data.channels", settings.channels, channels),
        (
            "data.image_size",
            settings.image_size,
            height if height == width else f"{height}x{width}",
        ),
        ("data.num_classes", settings.num_classes, classes),
    ):
        if stated != actual:
            raise ConfigError(
                f"{key} is {stated!r} but the dataset has {actual}; "
                "this key describes the dataset, so change it only together with data=..."
            )
