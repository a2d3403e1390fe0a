"""Inside a SLURM job of a sweep: stop at a step with a checkpoint when SLURM says time is up,
let submitit requeue the job, and resume from that checkpoint when it runs again.

submitit asks SLURM for a signal (SIGUSR2 by default) ``signal_delay_s`` before the job's time
limit, and installs a handler for it that requeues the job (``scontrol requeue``) after
calling the launcher's ``checkpoint``. That handler would run in the middle of a training
step; here it is called only once the run has written ``last.pt`` at a step boundary and
stopped (:mod:`runner.platform.stopping`). A job that runs again (requeued by submitit, or by SLURM
itself after a preemption) finds ``SLURM_RESTART_COUNT`` > 0 and resumes from ``last.pt``.
"""

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from runner.platform.environment import stop_signal
from runner.platform.stopping import Stopped, answer_scheduler_signals
from runner.records.overrides import without_resume
from runner.records.wandb_run import stop_wandb_service

RESUME = "resume=true"


def requeued() -> bool:
    """Whether SLURM runs this job again (after a requeue or a preemption)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0


def overrides_of_this_attempt(overrides: Sequence[str]) -> list[str]:
    """The job's overrides, with ``resume=true`` when the job runs again: it continues from
    its checkpoint instead of being refused for a directory that already holds a run."""
    overrides = list(overrides)
    if requeued():
        overrides = [*without_resume(overrides), RESUME]
    return overrides


@contextmanager
def requeue_when_stopped() -> Iterator[None]:
    """Answer SLURM's signals as :mod:`runner.platform.stopping` describes; when the run has stopped
    on the time-limit signal, hand over to submitit's handler, which requeues the job and
    ends this process (or, when ``max_num_timeout`` requeues are used up, raises)."""
    stop = stop_signal()
    requeue: Callable[[int, object], None] | int | None = signal.getsignal(stop)
    answer_scheduler_signals(stop)
    try:
        yield
    except Stopped as stopped:
        print(f"{stopped}; asking submitit to requeue this job", file=sys.stderr, flush=True)
        if not callable(requeue):
            raise
        stop_wandb_service()
        requeue(stop, None)
        raise
