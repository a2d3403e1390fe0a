"""The runner's step service: how every optimisation step of every experiment is taken.

Experiments decide which optimizer steps on which loss and when; they hand each step to
``Experiment.optimizer_step``, which the runner points here. This is the one place where the
way a step is taken changes for every experiment at once: mixed precision, gradient
accumulation, clipping, learning-rate schedules and, in a run of several processes, the
averaging of gradients between them.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils import clip_grad_norm_
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from runner.platform.distributed import ONE_PROCESS, Processes
from runner.training.schedules import Scheduler
from runner.training.settings import TrainerSettings

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}


@dataclass(frozen=True)
class StepSettings:
    """``trainer.precision``, ``trainer.grad_clip`` and ``trainer.accumulate``."""

    precision: str = "32"
    grad_clip: float | None = None
    accumulate: int = 1

    @classmethod
    def of(cls, trainer: TrainerSettings) -> "StepSettings":
        return cls(trainer.precision, trainer.grad_clip, trainer.accumulate)


class StepService:
    """Takes the optimisation steps of a run, for the optimizers the run checkpoints.

    Per batch (:meth:`batch`): the experiment's forward passes run under autocast (bf16 or
    float16), and after every ``accumulate`` batches the learning-rate schedules advance.
    Per call (``service(loss, optimizer)``): the gradients of ``accumulate`` calls for the same
    optimizer are summed (each loss divided by ``accumulate``), then averaged over the
    run's processes, unscaled (float16), clipped to ``grad_clip`` (the norm before clipping
    is reported) and stepped.

    With several processes this is what DistributedDataParallel does, done here rather than
    by wrapping the model: experiments call their modules in their own ways (a GAN's
    generator loss runs through the discriminator), and the step is where every optimizer's
    gradients are complete. Gradients are exchanged only when an optimizer steps, so the
    batches of an accumulation are not synchronised (DDP's ``no_sync``).

    The backward pass fills only the gradients of the optimizer's own parameters: a GAN's
    generator loss, which flows through the discriminator, leaves the discriminator's
    gradients (perhaps half accumulated) alone.
    """

    def __init__(
        self,
        optimizers: dict[str, Optimizer],
        settings: StepSettings = StepSettings(),
        device_type: str = "cpu",
        schedules: dict[str, Scheduler | None] | None = None,
        processes: Processes = ONE_PROCESS,
    ) -> None:
        self.optimizers = optimizers
        self.processes = processes
        self.settings = settings
        self.device_type = device_type
        self.schedules = {name: s for name, s in (schedules or {}).items() if s is not None}
        self.names = {id(optimizer): name for name, optimizer in optimizers.items()}
        self.parameters = {name: trainable(optimizer) for name, optimizer in optimizers.items()}
        self.calls = dict.fromkeys(optimizers, 0)
        self.batches = 0
        self.scalers = {}
        if settings.precision == "16":
            self.scalers = {name: torch.amp.GradScaler(device_type) for name in optimizers}
        self.gradient_norms: dict[str, Tensor] = {}
        self.statistics: dict[str, dict[str, Any]] = {}  # what optimizers measured of a step
        self.measuring = {  # the optimizers that measure their steps (Adam's record_every)
            name: optimizer.pop_statistics
            for name, optimizer in optimizers.items()
            if hasattr(optimizer, "pop_statistics")
        }
        self.rates_used: dict[str, float] = {}

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One training batch: forward passes under autocast; schedules advance after it."""
        dtype = AUTOCAST_DTYPES.get(self.settings.precision)
        if self.schedules:  # the rates this batch steps with, for train/lr
            self.rates_used = self.current_rates()
        with torch.autocast(self.device_type, dtype=dtype, enabled=dtype is not None):
            yield
        self.batches += 1
        if self.batches % self.settings.accumulate == 0:
            self.advance_schedules()

    def advance_schedules(self) -> None:
        """One optimisation step of the run has passed: every step-driven schedule moves on.

        An optimizer that did not step in it (a GAN's generator steps every k-th batch) still
        moves along its schedule, on purpose: the learning rate follows the run's progress.
        torch warns about a scheduler stepped before its optimizer; here that is intended.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            for schedule in self.schedules.values():
                if not isinstance(schedule, ReduceLROnPlateau):
                    schedule.step()

    def __call__(self, loss: Tensor, optimizer: Optimizer) -> None:
        name = self.names.get(id(optimizer))
        if name is None:
            # Its state would be missing from every checkpoint: a resume could not be exact.
            raise ValueError(
                "optimizer_step was given an optimizer that configure_optimizers did not return"
            )
        accumulate = self.settings.accumulate
        if self.calls[name] % accumulate == 0:
            optimizer.zero_grad(set_to_none=True)
        self.calls[name] += 1
        if accumulate > 1:
            loss = loss / accumulate
        if name in self.scalers:
            loss = self.scalers[name].scale(loss)
        with torch.autocast(self.device_type, enabled=False):  # backward outside autocast
            loss.backward(inputs=self.parameters[name])
        if self.calls[name] % accumulate == 0:
            self.step(name, optimizer)

    def step(self, name: str, optimizer: Optimizer) -> None:
        """Average, unscale, clip and step ``optimizer`` on the gradients it has gathered."""
        self.processes.average_gradients(self.parameters[name])
        scaler = self.scalers.get(name)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.settings.grad_clip is not None:
            norm = clip_grad_norm_(self.parameters[name], self.settings.grad_clip)
            self.gradient_norms[name] = norm
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)  # skipped when the gradients overflowed
            scaler.update()
        if name in self.measuring:
            self.statistics[name] = self.measuring[name]() or self.statistics.get(name, {})

    def pop_optimizer_statistics(self) -> dict[str, Any]:
        """What the optimizers measured of this batch's steps, if anything: each name as the
        optimizer gave it, or ``<optimizer>/<name>`` when there are several."""
        measured, self.statistics = self.statistics, {}
        if len(self.optimizers) == 1:
            return next(iter(measured.values()), {})
        return {
            f"{optimizer}/{name}": v
            for optimizer, values in measured.items()
            for name, v in values.items()
        }

    def pop_gradient_norms(self) -> dict[str, Tensor]:
        """The pre-clipping norms of this batch's steps: ``grad_norm``, or
        ``grad_norm_<optimizer>`` when there are several optimizers."""
        norms, self.gradient_norms = self.gradient_norms, {}
        if len(self.optimizers) > 1:
            return {f"grad_norm_{name}": norm for name, norm in norms.items()}
        if not norms:
            return {}
        (norm,) = norms.values()
        return {"grad_norm": norm}

    def current_rates(self) -> dict[str, float]:
        return {
            name: optimizer.param_groups[0]["lr"] for name, optimizer in self.optimizers.items()
        }

    def learning_rates(self) -> dict[str, float]:
        """With a schedule, the rates the latest batch stepped with: ``lr`` (the first
        optimizer's), and ``lr_<optimizer>`` for each when there are several. Without one,
        nothing: the config says the rate."""
        if not self.schedules:
            return {}
        rates = self.rates_used or self.current_rates()
        first = next(iter(rates.values()))
        if len(rates) == 1:
            return {"lr": first}
        return {"lr": first, **{f"lr_{name}": rate for name, rate in rates.items()}}

    def observe_objective(self, value: float) -> None:
        """Step the schedules that follow the objective (``plateau``) at a validation."""
        for schedule in self.schedules.values():
            if isinstance(schedule, ReduceLROnPlateau):
                schedule.step(value)

    def state_dict(self) -> dict[str, Any]:
        """Schedules, gradient scalers, the place in each accumulation, and the gradients
        gathered so far by an optimizer that has not stepped yet.

        With several processes, every process must call this at once: the gradients kept are
        the mean of the processes' (each continues from that mean, which sums to what it
        would have stepped on, as gradients add up linearly).
        """
        accumulating = {
            name: self.pending_gradients(name)
            for name, calls in self.calls.items()
            if calls % self.settings.accumulate
        }
        return {
            "calls": dict(self.calls),
            "batches": self.batches,
            "schedules": {name: s.state_dict() for name, s in self.schedules.items()},
            "scalers": {name: s.state_dict() for name, s in self.scalers.items()},
            "gradients": accumulating,
        }

    def pending_gradients(self, name: str) -> list[Tensor | None]:
        """The gradients optimizer ``name`` has gathered (their mean over the processes)."""
        gradients = [None if p.grad is None else p.grad.clone() for p in self.parameters[name]]
        self.processes.average([g for g in gradients if g is not None])
        return gradients

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls, self.batches = dict(state["calls"]), state["batches"]
        for name, schedule_state in state["schedules"].items():
            self.schedules[name].load_state_dict(schedule_state)
        for name, scaler_state in state["scalers"].items():
            if name in self.scalers:  # a run resumed with another precision has none
                self.scalers[name].load_state_dict(scaler_state)
        for name, gradients in state["gradients"].items():
            for parameter, gradient in zip(self.parameters[name], gradients, strict=True):
                parameter.grad = None if gradient is None else gradient.to(parameter.device)


def trainable(optimizer: Optimizer) -> list[Tensor]:
    """The parameters ``optimizer`` updates that take gradients."""
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
