"""Requests, from outside, to checkpoint a run at its next step, or to checkpoint and stop.

A cluster tells a job that its time is running out with a signal: SLURM's preemption and
``scancel`` send SIGTERM and, after a grace period, SIGKILL; submitit asks SLURM for SIGUSR2
some time before the time limit, and on it requeues the job. A signal handler may run between
any two bytecodes, in the middle of an optimizer step, so it only records the request here;
the training loop acts on it after the step, where the run's state is whole, and writes
``last.pt`` there. A run stopped so ends with :class:`Stopped`, and its resumed run logs
exactly what an uninterrupted one would.

In a SLURM job (:func:`answer_scheduler_signals`) SIGTERM asks for a checkpoint and training
goes on (if SIGKILL follows, SLURM's requeue resumes from it; if SIGUSR2 follows, the job
stops); SIGUSR2 asks for a checkpoint and a stop, after which submitit requeues the job.
"""

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.platform.distributed import Processes


class Stopped(KeyboardInterrupt):
    """The run stopped on request at a step boundary, with ``last.pt`` written there.

    A kind of interruption: the run is recorded as interrupted and resumes from ``last.pt``.
    """


@dataclass
class Requests:
    """What has been asked of this process since the loop last looked (the signal's name)."""

    checkpoint: str | None = None
    stop: str | None = None

    def ask_checkpoint(self, signal_number: int, frame: object = None) -> None:
        self.checkpoint = signal.Signals(signal_number).name

    def ask_stop(self, signal_number: int, frame: object = None) -> None:
        self.stop = signal.Signals(signal_number).name

    def due(self, processes: "Processes", at_log_boundary: bool) -> tuple[bool, str | None]:
        """Whether to checkpoint now, and the signal that asked to stop after it (None: go
        on). Both requests are answered by this: the next call starts afresh.

        One process looks after every step; several agree at each ``log_every`` boundary
        (one small all-reduce), so that all of them checkpoint and stop at the same step.
        """
        if processes.several and not at_log_boundary:
            return False, None
        checkpoint, stop = processes.any_of([self.checkpoint is not None, self.stop is not None])
        stopped_by = (self.stop or "a signal to another process") if stop else None
        self.clear()
        return checkpoint or stop, stopped_by

    def clear(self) -> None:
        self.checkpoint = self.stop = None


REQUESTS = Requests()
"""This process's requests: a signal handler has no other way to reach the training loop."""


def answer_scheduler_signals(stop_signal: signal.Signals) -> None:
    """SIGTERM: checkpoint at the next step; ``stop_signal``: checkpoint there and stop."""
    REQUESTS.clear()
    signal.signal(signal.SIGTERM, REQUESTS.ask_checkpoint)
    signal.signal(stop_signal, REQUESTS.ask_stop)
