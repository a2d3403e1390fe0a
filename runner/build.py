"""From config nodes to objects: ``_target_`` instantiation with errors told as settings."""

from collections.abc import Callable, Iterable
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.optim import Optimizer

from runner.data.loader import ImageSet, Loaders, TensorLoader
from runner.data.splits import distort_splits, epoch_distortion, make_splits
from runner.distributed import ONE_PROCESS, Processes
from runner.errors import ConfigError, first_line
from runner.schedules import Scheduler


def build(node: DictConfig, group: str) -> Any:
    """``instantiate(node)``; a ValueError or TypeError raised by the target is a bad setting.

    Targets check their own arguments (an experiment knows its valid sizes); their message
    is shown as one line prefixed by the config group, instead of Hydra's traceback.
    """
    try:
        return instantiate(node)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ValueError | TypeError):
            raise setting_error(group, cause) from None
        raise


def setting_error(group: str, cause: Exception) -> ConfigError:
    """``cause`` as a one-line config error, prefixed by its group unless it names a setting."""
    message = first_line(cause)
    if isinstance(cause, ConfigError) or message.startswith(f"{group}."):
        return ConfigError(message)
    return ConfigError(f"{group}: {message}")


def build_optimizer_factory(node: DictConfig) -> Callable[[Iterable[Any]], Optimizer]:
    """The ``optim`` node (a ``_partial_`` target) as a function of the parameters to optimise.

    The optimizer checks its settings only when the experiment calls this with its
    parameters, so that is where a bad setting becomes a :class:`ConfigError`.
    """
    partial = build(node, "optim")

    def make_optimizer(parameters: Iterable[Any]) -> Optimizer:
        try:
            return partial(parameters)
        except (ValueError, TypeError) as error:
            raise setting_error("optim", error) from None

    return make_optimizer


def build_schedules(
    node: DictConfig, optimizers: dict[str, Optimizer], total_steps: int
) -> dict[str, Scheduler | None]:
    """The ``schedule`` node (a ``_partial_`` target) applied to every optimizer, over
    ``total_steps`` optimisation steps."""
    partial = build(node, "schedule")
    try:
        return {name: partial(opt, total_steps=total_steps) for name, opt in optimizers.items()}
    except (ValueError, TypeError) as error:
        raise setting_error("schedule", error) from None


def compile_modules(experiment: torch.nn.Module, mode: str) -> None:
    """``torch.compile`` each module the experiment is made of, in place.

    The experiment calls its modules (a GAN's generator and discriminator) rather than one
    forward of its own, so each is compiled; in place, so the checkpoints' parameter names
    stay those of the uncompiled model.
    """
    for module in experiment.children():
        module.compile(mode=mode)


def build_loaders(
    data: DictConfig, seed: int, device: torch.device, processes: Processes = ONE_PROCESS
) -> Loaders:
    """The dataset of ``data.dataset``, split and batched as ``data`` says, on ``device``;
    each loader takes this process's share of its split."""
    train, test = build(data.dataset, "data")
    splits = make_splits(train, test, data.val_size, device)
    classes = int(max(train.labels.max(), test.labels.max())) + 1  # before a subset leaves some out
    if data.subset is not None:
        splits = splits.first(data.subset)
    each_epoch = data.resample_each_epoch and data.distortion != "none"
    splits = distort_splits(splits, data.distortion, data.distortion_seed, each_epoch)
    check_shape(splits.test, classes, data)
    redistort = epoch_distortion(data.distortion, data.distortion_seed) if each_epoch else None
    return Loaders(
        train=TensorLoader(
            splits.train,
            data.batch_size,
            shuffle=True,
            seed=seed,
            drop_last=True,
            images_for_epoch=redistort,
            processes=processes,
        ),
        val=TensorLoader(splits.val, data.eval_batch_size, shuffle=False, processes=processes),
        test=TensorLoader(splits.test, data.eval_batch_size, shuffle=False, processes=processes),
    )


def check_shape(images: ImageSet, classes: int, data: DictConfig) -> None:
    """The ``data`` keys that describe the images (models read them) must match the images
    and the dataset's number of classes."""
    _, channels, height, width = images.images.shape
    for key, stated, actual in (
        ("data.channels", data.channels, channels),
        ("data.image_size", data.image_size, height if height == width else f"{height}x{width}"),
        ("data.num_classes", data.num_classes, classes),
    ):
        if stated != actual:
            raise ConfigError(
                f"{key} is {stated!r} but the dataset has {actual}; "
                "this key describes the dataset, so change it only together with data=..."
            )
