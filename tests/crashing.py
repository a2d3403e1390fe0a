"""Experiments that crash, or are signalled, part-way: to test what a crash or a scheduler's
signal leaves behind and what resumes."""

import os
import signal

import torch.distributed as dist
from torch import Tensor
from torch.optim import Optimizer

from experiments.base import Batch
from experiments.stn import STNClassifier


class CrashingSTN(STNClassifier):
    """The STN classifier, raising in training step number ``crash_at_step`` of this process
    (of the process of rank ``crash_on_rank`` alone, when given)."""

    def __init__(self, crash_at_step: int, crash_on_rank: int | None = None, **settings) -> None:
        super().__init__(**settings)
        self.crash_at_step = crash_at_step
        self.crash_on_rank = crash_on_rank
        self.steps_taken = 0

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        self.steps_taken += 1
        rank = dist.get_rank() if dist.is_initialized() else 0
        if self.steps_taken == self.crash_at_step and self.crash_on_rank in (None, rank):
            raise RuntimeError(f"crashed at step {self.crash_at_step}")
        return super().training_step(batch, optimizers)


class SignallingSTN(STNClassifier):
    """The STN classifier, sending its own process ``signal_name`` (e.g. SIGUSR2) in
    training step number ``signal_at_step``, as a scheduler would from outside."""

    def __init__(self, signal_at_step: int, signal_name: str, **settings) -> None:
        super().__init__(**settings)
        self.signal_at_step = signal_at_step
        self.signal_name = signal_name
        self.steps_taken = 0

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        self.steps_taken += 1
        if self.steps_taken == self.signal_at_step:
            os.kill(os.getpid(), signal.Signals[self.signal_name])
        return super().training_step(batch, optimizers)
