"""An experiment that crashes part-way, to test what a crash leaves behind and what resumes."""

from torch import Tensor
from torch.optim import Optimizer

from experiments.base import Batch
from experiments.stn import STNClassifier


class CrashingSTN(STNClassifier):
    """The STN classifier, raising in training step number ``crash_at_step`` of this process."""

    def __init__(self, crash_at_step: int, **settings) -> None:
        super().__init__(**settings)
        self.crash_at_step = crash_at_step
        self.steps_taken = 0

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        self.steps_taken += 1
        if self.steps_taken == self.crash_at_step:
            raise RuntimeError(f"crashed at step {self.crash_at_step}")
        return super().training_step(batch, optimizers)
