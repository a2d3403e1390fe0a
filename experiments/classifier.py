"""What every image classifier here shares: cross-entropy training and accuracy.

Subclasses define ``forward(images) -> logits``; the STN paper's models and the Adam paper's
§6 models all train and evaluate this way.
"""

from collections.abc import Iterable

import torch.nn.functional as F
from torch import Tensor
from torch.optim import Optimizer

from experiments.base import Batch, Experiment, mean_over_batches


class Classifier(Experiment):
    """An experiment that maps images to class logits and is trained by cross-entropy."""

    training_metrics = ("loss", "acc")
    evaluation_metrics = ("loss", "acc")
    metric_goals = {"loss": "min", "acc": "max"}

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        self.optimizer_step(loss, optimizers["model"])
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": loss.detach(), "acc": accuracy.detach()}

    def evaluate(self, batches: Iterable[Batch], split: str) -> dict[str, float]:
        """Mean cross-entropy and accuracy over every sample of the split."""

        def measure(batch: Batch) -> dict[str, Tensor]:
            images, labels = batch
            logits = self(images)
            return {
                "loss": F.cross_entropy(logits, labels, reduction="sum"),
                "acc": (logits.argmax(dim=1) == labels).sum(),
            }

        return mean_over_batches(batches, measure)
