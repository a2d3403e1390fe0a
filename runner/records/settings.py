"""The ``logger`` settings: the run's W&B mirror; checked where they are declared."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from runner.platform.checks import check_choice, check_number
from runner.platform.errors import ConfigError

LOGGER_MODES = ("auto", "online", "offline", "disabled")
DASHBOARD_CHOICES = ("auto", True, False)


@dataclass
class LoggerSettings:
    """The ``logger`` section of the config (``conf/logger/`` says what each key does)."""

    mode: str = "auto"
    project: str = "runner"
    entity: str | None = None
    group: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    timeout_s: float = 30
    log_checkpoints: Any = "auto"
    dashboard: Any = "auto"
    share_service: bool = True

    def __post_init__(self) -> None:
        check_choice("logger.mode", self.mode, LOGGER_MODES)
        check_number("logger.timeout_s", self.timeout_s, positive=True)
        for name in ("log_checkpoints", "dashboard"):
            value = getattr(self, name)
            if value != "auto" and not isinstance(value, bool):
                raise ConfigError(f"logger.{name} must be one of auto, true, false; got {value!r}")
        object.__setattr__(self, "tags", list(self.tags or []))

    @classmethod
    def of(cls, section: Mapping[str, Any]) -> "LoggerSettings":
        """The settings of a ``logger`` section as a sweep's report reads it."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})

    def for_sweep(
        self, sweep_dir: str, name: str, tags: list[str] | None = None
    ) -> "LoggerSettings":
        """These settings for a run of the sweep's own (its report, its study): in the group
        of the sweep's jobs unless another was chosen, under ``name``."""
        return replace(
            self, group=self.group or sweep_dir, name=name, tags=self.tags if tags is None else tags
        )
