"""The ``data`` settings every data option shares (the option's own ``dataset`` node is built
by the run); each value checked where it is declared."""

from dataclasses import dataclass

from runner.data.canvas import DISTORTIONS
from runner.platform.checks import check_choice, check_int


@dataclass
class DataSettings:
    """The ``data`` section of the config (``conf/config.yaml`` says what each key does)."""

    root: str = "data"
    val_size: int = 5000
    batch_size: int = 64
    eval_batch_size: int = 1000
    image_size: int = 28
    distortion: str = "none"
    distortion_seed: int = 0
    resample_each_epoch: bool = False
    subset: int | None = None
    channels: int = 1
    num_classes: int = 10

    def __post_init__(self) -> None:
        for key, minimum in (("batch_size", 1), ("eval_batch_size", 1), ("val_size", 1),
                             ("distortion_seed", 0)):  # fmt: skip
            check_int(f"data.{key}", getattr(self, key), minimum)
        check_int("data.subset", self.subset, 1, allow_none=True)
        check_choice("data.distortion", self.distortion, DISTORTIONS)

    @property
    def redistorts_each_epoch(self) -> bool:
        """Whether the training images are distorted afresh every epoch."""
        return self.resample_each_epoch and self.distortion != "none"
