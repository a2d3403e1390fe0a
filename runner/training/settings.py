"""The ``trainer`` settings: how long to train, how often to log, validate and checkpoint, and
how each optimisation step is taken. Each value is checked where it is declared, so a
setting out of range is one line naming it, whoever builds the settings (a run from its
config, or a test that builds a loop by hand)."""

from dataclasses import dataclass, field

from runner.platform.checks import check_choice, check_int, check_number
from runner.platform.errors import ConfigError

PRECISIONS = ("32", "bf16", "16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class EarlyStopSettings:
    """``trainer.early_stop``: stop after ``patience`` validations without the objective
    improving by more than ``min_delta`` (never, when ``patience`` is null)."""

    patience: int | None = None
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        check_int("trainer.early_stop.patience", self.patience, 1, allow_none=True)
        check_number("trainer.early_stop.min_delta", self.min_delta, positive=False)


@dataclass
class TrainerSettings:
    """The ``trainer`` section of the config (``conf/config.yaml`` says what each key does)."""

    epochs: int = 5
    max_steps: int | None = None
    eval_every: int = 1
    log_every: int = 50
    checkpoint_every: int = 1
    precision: str = "32"
    compile: bool = False
    compile_mode: str = "default"
    grad_clip: float | None = None
    accumulate: int = 1
    early_stop: EarlyStopSettings = field(default_factory=EarlyStopSettings)
    profile: bool = False

    def __post_init__(self) -> None:
        for key, minimum in (("epochs", 1), ("eval_every", 1), ("log_every", 1),
                             ("checkpoint_every", 1), ("accumulate", 1)):  # fmt: skip
            check_int(f"trainer.{key}", getattr(self, key), minimum)
        check_int("trainer.max_steps", self.max_steps, 1, allow_none=True)
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"trainer.precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}"
            )
        check_choice("trainer.compile_mode", self.compile_mode, COMPILE_MODES)
        check_number("trainer.grad_clip", self.grad_clip, positive=True, allow_none=True)

    def total_steps(self, batches_per_epoch: int) -> int:
        """``max_steps`` when set, else whole epochs."""
        return self.max_steps if self.max_steps is not None else self.epochs * batches_per_epoch
