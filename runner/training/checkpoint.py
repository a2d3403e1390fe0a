"""Checkpoints: the one place that knows their layout and its version.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with
``torch.load(path, weights_only=True)`` and loading one never runs code. ``last.pt``, written
at every epoch end (and at the last step), holds everything a run needs to continue exactly
where it stopped::

    format      CHECKPOINT_FORMAT
    config      the resolved config the run started with
    experiment  the experiment's state_dict (weights and buffers)
    optimizers  {name: optimizer state_dict}
    steps       StepService.state_dict(): schedules, gradient scalers, the place in each
                gradient accumulation and the gradients gathered so far
    rng         the torch (and CUDA) random number generator states; with several
                processes, rank 0's, and under ``ranks`` every rank's
    state       TrainState.state_dict(): position, best objective, running means, ...

``best.pt`` keeps the weights that scored best on the objective at a validation::

    format, config, experiment, metric, value, step, epoch

In a run of several processes every process takes part in writing ``last.pt`` (the random
number generators and half-gathered gradients are collected from all) and rank 0 alone
writes the files. The weights are the experiment's own names, as in a one-process run, so
a checkpoint continues with any number of processes.
"""

from pathlib import Path
from typing import Any

import torch
from torch import nn

from runner.platform.distributed import ONE_PROCESS, Processes
from runner.platform.errors import ConfigError, DamagedFile, first_line
from runner.platform.files import check_archive, save_atomically
from runner.training.state import TrainState
from runner.training.step import StepService

CHECKPOINT_FORMAT = 2
"""The layout above. Bumped whenever it changes; a checkpoint of another format is refused."""

MOVED_TARGETS = {"runner.schedules.": "runner.training.schedules."}
"""Where the ``_target_``s of a checkpoint's config live now, for those that moved since it was
written: the layout of the checkpoint is the same, so it reads as one written today."""


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], rank: int = 0) -> None:
    """Rank ``rank``'s generators; a rank the checkpoint has none for (a run continued with
    more processes) keeps the ones it was seeded with."""
    if rank > 0:
        ranks = state.get("ranks", [])
        if rank >= len(ranks):
            return
        state = ranks[rank]
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


RESUME_REMEDY = (
    "start a new run in another directory (hydra.run.dir); checkpoints/best.pt, if it loads, "
    "keeps the best weights for python -m runner.evaluate"
)


def read_checkpoint(path: Path, remedy: str = RESUME_REMEDY) -> dict[str, Any]:
    """The checkpoint in ``path``; :class:`ConfigError` when this runner cannot continue it
    (:class:`DamagedFile`, ending with ``remedy``, when it is not a whole checkpoint)."""
    check_archive(path, remedy)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises what the bytes make it: zip, pickle, EOF errors
        raise DamagedFile(
            path, f"cannot be read: it is cut short or not a checkpoint ({first_line(error)})",
            remedy,
        ) from None  # fmt: skip
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if found != CHECKPOINT_FORMAT:
        written_by = f"checkpoint format {found}" if isinstance(found, int) else "no known format"
        raise ConfigError(
            f"{path} has {written_by}, and this runner reads format {CHECKPOINT_FORMAT}; "
            "resume it with the runner version that wrote it, or start afresh in another run directory"
        )
    checkpoint["config"] = with_moved_targets(checkpoint.get("config"))
    return checkpoint


def with_moved_targets(node: Any) -> Any:
    """``node`` with each ``_target_`` that names a place in :data:`MOVED_TARGETS` renamed."""
    if isinstance(node, dict):
        return {key: moved_target(value) if key == "_target_" else with_moved_targets(value)
                for key, value in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [with_moved_targets(item) for item in node]
    return node


def moved_target(target: Any) -> Any:
    for old, new in MOVED_TARGETS.items():
        if isinstance(target, str) and target.startswith(old):
            return new + target.removeprefix(old)
    return target


def steps_done(checkpoint: dict[str, Any]) -> int:
    """How many training steps (batches) the run of ``checkpoint`` had taken."""
    return checkpoint["state"]["step"]


class Checkpointer:
    """The run's ``checkpoints/`` folder: ``last.pt`` to resume from, ``best.pt`` to keep."""

    def __init__(
        self,
        directory: Path,
        experiment: nn.Module,
        steps: StepService,
        config: dict[str, Any],
        processes: Processes = ONE_PROCESS,
    ) -> None:
        """``config``: the run's resolved config, stored in each checkpoint as it is (never
        read here), so that a checkpoint says what it was trained as."""
        self.last = directory / "last.pt"
        self.best = directory / "best.pt"
        self.experiment = experiment
        self.steps = steps
        self.config = config
        self.processes = processes

    def save_last(self, state: TrainState) -> None:
        """Everything needed to continue from ``state``, written atomically (by rank 0; every
        process calls this at once)."""
        self.processes.share_buffers(self.experiment)
        steps = self.steps.state_dict()
        rng = rng_state()
        if self.processes.several:
            rng["ranks"] = self.processes.gather(rng_state())
        if not self.processes.main:
            return
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "experiment": self.experiment.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.steps.optimizers.items()},
            "steps": steps,
            "rng": rng,
            "state": state.state_dict(),
        }
        save_atomically(checkpoint, self.last)

    def save_best(self, state: TrainState, metric: str, value: float) -> None:
        """The weights alone, with what made them best and the config that builds the model
        (written by rank 0)."""
        if not self.processes.main:
            return
        best = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "experiment": self.experiment.state_dict(),
            "metric": metric,
            "value": value,
            "step": state.step,
            "epoch": state.epoch,
        }
        save_atomically(best, self.best)

    def restore(self, checkpoint: dict[str, Any]) -> TrainState:
        """Load a checkpoint read by :func:`read_checkpoint` into the experiment, the optimizers,
        the step service and the random number generators; return the run's state.

        A checkpoint of the right format whose contents do not fit (edited, or put together
        from another run's parts) is :class:`DamagedFile`.
        """
        try:
            self.experiment.load_state_dict(checkpoint["experiment"])
            for name, optimizer_state in checkpoint["optimizers"].items():
                self.steps.optimizers[name].load_state_dict(optimizer_state)
            self.steps.load_state_dict(checkpoint["steps"])
            restore_rng_state(checkpoint["rng"], self.processes.rank)
            state = TrainState()
            state.load_state_dict(checkpoint["state"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as error:
            raise DamagedFile(
                self.last,
                f"does not fit the run it is in ({type(error).__name__}: {first_line(error)})",
                RESUME_REMEDY,
            ) from None
        return state
