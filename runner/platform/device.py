"""Which device a run trains on."""

import torch

from runner.platform.errors import ConfigError

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


def check_precision(precision: str, device: torch.device) -> None:
    """float16 needs a GPU: on the CPU it is slow and, without a gradient scaler, unsound."""
    if precision == "16" and device.type != "cuda":
        raise ConfigError(
            "trainer.precision=16 needs a CUDA GPU (float16 with a gradient scaler); "
            "on the CPU use trainer.precision=bf16 or 32"
        )


def check_processes(count: int, batch_size: int, device: torch.device) -> None:
    """``device.processes``: each needs a GPU of its own on CUDA, and an equal share of
    every batch."""
    if device.type == "cuda" and count > torch.cuda.device_count():
        raise ConfigError(
            f"device.processes={count} needs a GPU per process, and this machine has "
            f"{torch.cuda.device_count()}; use at most that many, or device=cpu"
        )
    if batch_size % count:
        raise ConfigError(
            f"data.batch_size={batch_size} does not split into device.processes={count} "
            "equal shares; choose a batch size that is a multiple of the number of processes"
        )
