"""Learning-rate schedules (the ``schedule`` config group), built from ``torch.optim.lr_scheduler``.

Each function takes the optimizer, the run's number of optimisation steps and the schedule's
own settings, and returns a scheduler (None for ``constant``). The step service advances every
optimizer's scheduler once per optimisation step of the run (every ``trainer.accumulate``
batches), so a GAN's two optimizers follow the same curve; ``plateau`` instead reads the
objective at each validation.
"""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from runner.platform.checks import check_choice, check_int, check_number
from runner.platform.console import console
from runner.platform.errors import ConfigError

Scheduler = LRScheduler | ReduceLROnPlateau
RUN_LENGTH_SCHEDULES = ("cosine", "warmup_cosine")
"""The schedules whose curve is laid over the run's length (a resumed run keeps it)."""


def constant(optimizer: Optimizer, total_steps: int) -> None:
    """No scheduler: the optimizer keeps its learning rate."""
    return None


def step(optimizer: Optimizer, total_steps: int, step_size: int, gamma: float) -> StepLR:
    check_int("schedule.step_size", step_size, minimum=1)
    check_number("schedule.gamma", gamma, positive=True)
    return StepLR(optimizer, step_size=step_size, gamma=gamma)


def cosine(optimizer: Optimizer, total_steps: int, min_lr: float) -> CosineAnnealingLR:
    check_number("schedule.min_lr", min_lr, positive=False)
    return CosineAnnealingLR(optimizer, T_max=max(1, total_steps), eta_min=min_lr)


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_steps: int, start_factor: float, min_lr: float
) -> SequentialLR:
    check_int("schedule.warmup_steps", warmup_steps, minimum=1)
    if not 0 < start_factor <= 1:
        raise ConfigError(f"schedule.start_factor must be in (0, 1]; got {start_factor!r}")
    check_number("schedule.min_lr", min_lr, positive=False)
    if warmup_steps >= total_steps:  # a short check of a config (debug=fast): say so, go on
        console.print(
            f"note: schedule.warmup_steps ({warmup_steps}) is not fewer than the run's "
            f"{total_steps} optimisation steps: the run only warms up"
        )
    warmup = LinearLR(optimizer, start_factor=start_factor, total_iters=warmup_steps)
    decay = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=min_lr)
    return SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


class InverseSquareRoot:
    """1/√t for optimisation step t = 1, 2, ... (LambdaLR counts the steps taken, from 0)."""

    def __call__(self, steps_taken: int) -> float:
        return 1 / math.sqrt(steps_taken + 1)


def inverse_sqrt(optimizer: Optimizer, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, InverseSquareRoot())


def plateau(  # noqa: PLR0913 (a _target_: the schedule's settings as conf/schedule/ names them)
    optimizer: Optimizer,
    total_steps: int,
    mode: str,
    factor: float,
    patience: int,
    threshold: float,
    min_lr: float,
) -> ReduceLROnPlateau:
    if not 0 < factor < 1:
        raise ConfigError(f"schedule.factor must be in (0, 1); got {factor!r}")
    check_choice("schedule.mode", mode, ("max", "min"))
    check_int("schedule.patience", patience, minimum=0)
    check_number("schedule.threshold", threshold, positive=False)
    check_number("schedule.min_lr", min_lr, positive=False)
    return ReduceLROnPlateau(
        optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold, min_lr=min_lr
    )
