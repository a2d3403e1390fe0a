"""What this process's environment says about where it runs, read without importing torch so
the command line can ask early: the rank a torch.distributed launcher (``torchrun``, the
runner's own) gave it, whether it is a job of a SLURM sweep, and the cores it may use."""

import os
import signal

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """Whether a torch.distributed launcher started this process as one rank of several."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def torchrun_rank() -> int:
    """This process's rank as its launcher set it (0 outside one)."""
    return int(os.environ.get("RANK", 0))


def local_process_count() -> int:
    """How many processes of the run the launcher started on this machine."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", 1)))


def in_slurm_job() -> bool:
    """Whether this process runs inside a job submitted to SLURM by submitit."""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ


def stop_signal() -> signal.Signals:
    """The signal submitit has SLURM send before the time limit (``SUBMITIT_PREEMPT_SIGNAL``)."""
    return signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


def available_cores() -> int:
    """The cores this process may run on (a SLURM allocation or ``taskset`` narrows them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
