"""Which device a run trains on."""

import torch

from runner.platform.errors import ConfigError
from runner.platform.settings import check_batch_split

DEVICE_TYPES = ("auto", "cpu", "cuda")


def resolve_device(device_type: str) -> torch.device:
    """``auto`` means the GPU when there is one, else the CPU; ``cuda`` insists on a GPU."""
    if device_type not in DEVICE_TYPES:
        raise ConfigError(
            f"device.type must be one of {', '.join(DEVICE_TYPES)}; got {device_type!r}"
        )
    if device_type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device=cuda but no CUDA GPU is available here; use device=cpu or device=auto"
        )
    if device_type == "auto":
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device_type)


def set_determinism(deterministic: bool) -> None:
    """Choose reproducible convolution kernels (cuDNN's and oneDNN's deterministic modes).

    With them, two runs with the same seed on the same machine log the same numbers; without
    them, cuDNN may pick faster kernels whose floating-point sums vary from run to run.
    """
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.mkldnn.deterministic = deterministic


def check_processes(count: int, batch_size: int, device: torch.device) -> None:
    """``device.processes``: each needs a GPU of its own on CUDA, and an equal share of
    every batch."""
    if device.type == "cuda" and count > torch.cuda.device_count():
        raise ConfigError(
            f"device.processes={count} needs a GPU per process, and this machine has "
            f"{torch.cuda.device_count()}; use at most that many, or device=cpu"
        )
    check_batch_split(count, batch_size)
