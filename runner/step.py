"""The runner's step service: how every optimisation step of every experiment is taken.

Experiments decide which optimizer steps on which loss and when; they hand each step to
``Experiment.optimizer_step``, which the runner points here. This is the one place where the
way a step is taken can change for every experiment at once.
"""

from torch import Tensor
from torch.optim import Optimizer

from experiments.base import plain_step


class StepService:
    """Takes the optimisation steps of a run, for the optimizers the run checkpoints.

    Today a step is the plain one (clear gradients, backpropagate, step); this is where mixed
    precision, gradient clipping, accumulation, learning-rate schedules and the gradient sync
    of several processes belong.
    """

    def __init__(self, optimizers: dict[str, Optimizer]) -> None:
        self.known = {id(optimizer) for optimizer in optimizers.values()}

    def __call__(self, loss: Tensor, optimizer: Optimizer) -> None:
        if id(optimizer) not in self.known:
            # Its state would be missing from every checkpoint: a resume could not be exact.
            raise ValueError(
                "optimizer_step was given an optimizer that configure_optimizers did not return"
            )
        plain_step(loss, optimizer)
