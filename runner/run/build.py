"""From config nodes to objects: ``_target_`` instantiation with errors told as settings."""

from collections.abc import Callable, Iterable
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.optim import Optimizer

from runner.data.loader import ImageSet, Loaders
from runner.data.pipeline import build_loaders
from runner.data.settings import DataSettings
from runner.platform.distributed import ONE_PROCESS, Processes
from runner.platform.errors import ConfigError, first_line
from runner.run.settings import section
from runner.training.schedules import Scheduler


def build(node: DictConfig, group: str, option: str | None = None) -> Any:
    """``instantiate(node)``, the node of config group ``group`` (its ``option`` when known);
    a ValueError, TypeError, RuntimeError or MemoryError raised by the target is a bad
    setting (torch raises the last two for a size it cannot allocate), and a ``_target_``
    that cannot be imported is named with the file it comes from.

    Targets check their own arguments (an experiment knows its valid sizes); their message
    is shown as one line prefixed by the config group, instead of Hydra's traceback.
    """
    try:
        return instantiate(node)
    except TypeError as error:  # Hydra's own: a _partial_ or _convert_ of the wrong type
        raise setting_error(group, error) from None
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ValueError | TypeError | RuntimeError | MemoryError):
            raise setting_error(group, cause) from None  # torch's: a size it cannot allocate
        if isinstance(cause, ImportError) or str(error).startswith("Error locating target"):
            raise import_error(node, group, option, cause) from None
        if cause is None:  # Hydra's own verdict on the node, such as a _target_ of null
            raise ConfigError(f"{target_key(group)}: {first_line(error)}") from None
        raise


def import_error(
    node: DictConfig, group: str, option: str | None, cause: BaseException | None
) -> ConfigError:
    """A ``_target_`` that does not import, in one line: the key, the file and the module."""
    key = target_key(group)
    where = f" in {group}/{option}.yaml ({group}={option})" if option else ""
    reason = first_line(cause.__cause__ or cause) if cause is not None else "no such class"
    return ConfigError(f"{key} {node.get('_target_')!r}{where} cannot be imported: {reason}")


def target_key(group: str) -> str:
    return "data.dataset._target_" if group == "data" else f"{group}._target_"


def setting_error(group: str, cause: Exception) -> ConfigError:
    """``cause`` as a one-line config error, prefixed by its group unless it names a setting."""
    message = first_line(cause)
    if isinstance(cause, ConfigError) or message.startswith(f"{group}."):
        return ConfigError(message)
    return ConfigError(f"{group}: {message}")


def build_optimizer_factory(
    node: DictConfig, option: str | None = None
) -> Callable[[Iterable[Any]], Optimizer]:
    """The ``optim`` node (a ``_partial_`` target) as a function of the parameters to optimise.

    The optimizer checks its settings only when the experiment calls this with its
    parameters, so that is where a bad setting becomes a :class:`ConfigError`.
    """
    partial = build(node, "optim", option)

    def make_optimizer(parameters: Iterable[Any]) -> Optimizer:
        try:
            return partial(parameters)
        except (ValueError, TypeError) as error:
            raise setting_error("optim", error) from None

    return make_optimizer


def build_schedules(
    node: DictConfig, optimizers: dict[str, Optimizer], total_steps: int, option: str | None = None
) -> dict[str, Scheduler | None]:
    """The ``schedule`` node (a ``_partial_`` target) applied to every optimizer, over
    ``total_steps`` optimisation steps."""
    partial = build(node, "schedule", option)
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


def build_dataset(node: DictConfig, option: str | None = None) -> tuple[ImageSet, ImageSet]:
    """The training and test sets of the ``data.dataset`` node."""
    return build(node, "data", option)


def build_loaders_of(
    data: DictConfig, seed: int, device: torch.device, processes: Processes = ONE_PROCESS
) -> Loaders:
    """The loaders of a composed config's ``data`` section (its settings checked, its dataset
    built): what a run and ``python -m runner.evaluate`` train and test on."""
    settings = section(DataSettings, OmegaConf.to_container(data, resolve=True))
    return build_loaders(settings, build_dataset(data.dataset), seed, device, processes)
