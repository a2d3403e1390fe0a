"""What torch.distributed's launchers (``torchrun``, the runner's own) tell each process
through its environment; read without importing torch, so the command line can ask early."""

import os

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
