"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a plain dict of tensors and numbers (it loads with ``weights_only=True``):
the experiment's weights, every optimizer's state, the random number generators, and the
position in the data (epoch and batch), which with the seeded per-epoch order pins down the
next batch exactly.
"""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from runner.files import save_atomically

CHECKPOINT_FORMAT = 1


@dataclass
class Position:
    """Where training stands: ``step`` optimisation steps done, next batch ``batch`` of ``epoch``."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    experiment: nn.Module,
    optimizers: dict[str, Optimizer],
    position: Position,
    **extra: Any,
) -> None:
    """Write a checkpoint atomically; ``extra`` holds the loop's own bookkeeping."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "experiment": experiment.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
        "position": asdict(position),
        "rng": rng_state(),
        **extra,
    }
    save_atomically(checkpoint, path)


def restore_checkpoint(
    checkpoint: dict[str, Any], experiment: nn.Module, optimizers: dict[str, Optimizer]
) -> tuple[Position, dict[str, Any]]:
    """Restore weights, optimizer states and generators; return the position and the rest."""
    checkpoint = dict(checkpoint)
    experiment.load_state_dict(checkpoint.pop("experiment"))
    for name, state in checkpoint.pop("optimizers").items():
        optimizers[name].load_state_dict(state)
    restore_rng_state(checkpoint.pop("rng"))
    position = Position(**checkpoint.pop("position"))
    return position, checkpoint


def read_checkpoint(path: Path) -> dict[str, Any]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint of this version of runner")
    return checkpoint


class Checkpointer:
    """The run's ``checkpoints/`` folder: ``last.pt`` to resume from, ``best.pt`` to keep."""

    def __init__(
        self, directory: Path, experiment: nn.Module, optimizers: dict[str, Optimizer]
    ) -> None:
        self.last = directory / "last.pt"
        self.best = directory / "best.pt"
        self.experiment = experiment
        self.optimizers = optimizers

    def save_last(self, position: Position, **extra: Any) -> None:
        save_checkpoint(self.last, self.experiment, self.optimizers, position, **extra)

    def save_best(
        self, position: Position, metric: str, value: float, config: dict[str, Any]
    ) -> None:
        """The weights alone, with what made them best and the config that builds the model."""
        best = {
            "format": CHECKPOINT_FORMAT,
            "experiment": self.experiment.state_dict(),
            "position": asdict(position),
            "metric": metric,
            "value": value,
            "config": config,
        }
        save_atomically(best, self.best)

    def restore(self, checkpoint: dict[str, Any]) -> tuple[Position, dict[str, Any]]:
        """Load a checkpoint read by :func:`read_checkpoint` into the experiment and optimizers."""
        return restore_checkpoint(checkpoint, self.experiment, self.optimizers)
