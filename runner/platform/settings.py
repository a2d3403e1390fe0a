"""The ``device`` settings: where a run computes and in how many processes; checked where
they are declared, without torch (the command line checks them before torch loads)."""

from dataclasses import dataclass

from runner.platform.checks import check_choice, check_int
from runner.platform.errors import ConfigError

DEVICE_TYPES = ("auto", "cpu", "cuda")
HIGHEST_PORT = 65535


@dataclass
class DeviceSettings:
    """The ``device`` section of the config (``conf/config.yaml`` says what each key does)."""

    type: str = "auto"
    deterministic: bool = True
    threads: int | None = None
    processes: int = 1
    port: int | None = None

    def __post_init__(self) -> None:
        check_choice("device.type", self.type, DEVICE_TYPES)
        check_int("device.threads", self.threads, 1, allow_none=True)
        check_int("device.processes", self.processes, 1)
        check_int("device.port", self.port, 1, allow_none=True)
        if self.port is not None and self.port > HIGHEST_PORT:
            raise ConfigError(
                f"device.port must be a port number up to {HIGHEST_PORT}, or null; got {self.port}"
            )


def check_precision(precision: str, device_type: str) -> None:
    """float16 needs a GPU: on the CPU it is slow and, without a gradient scaler, unsound."""
    if precision == "16" and device_type != "cuda":
        raise ConfigError(
            "trainer.precision=16 needs a CUDA GPU (float16 with a gradient scaler); "
            "on the CPU use trainer.precision=bf16 or 32"
        )


def check_batch_split(processes: int, batch_size: int) -> None:
    """Each of ``processes`` takes an equal share of every batch."""
    if batch_size % processes:
        raise ConfigError(
            f"data.batch_size={batch_size} does not split into device.processes={processes} "
            "equal shares; choose a batch size that is a multiple of the number of processes"
        )
