"""What a resumed run may change, and the one-line refusal when it changes anything else.

A resumed run must be the run it continues: the same model, optimizer, data and seed, or its
checkpoint would load into something else (or, with another batch size, point at batches
that do not exist). How long to train, how to log and where to compute may change.
"""

from typing import Any

from runner.checkpoint import steps_done
from runner.errors import ConfigError
from runner.schedules import RUN_LENGTH_SCHEDULES

MAY_CHANGE_ON_RESUME = (
    "resume",
    "choices",
    "sweep",
    "trainer",
    "logger",
    "device",
    "data.root",
    "data.eval_batch_size",
)
KEPT_ON_RESUME = ("trainer.accumulate",)  # half-gathered gradients in the checkpoint depend on it


def under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in prefixes)


def first_change(started: Any, now: Any, key: str = "") -> tuple[str, Any, Any] | None:
    """The first setting (dotted key, old, new) that differs and may not change on resume."""
    holds_kept = any(kept.startswith(f"{key}.") for kept in KEPT_ON_RESUME)
    if (
        key
        and under(key, MAY_CHANGE_ON_RESUME)
        and not under(key, KEPT_ON_RESUME)
        and not holds_kept
    ):
        return None
    if isinstance(started, dict) and isinstance(now, dict):
        for name in dict.fromkeys([*started, *now]):
            change = first_change(
                started.get(name), now.get(name), f"{key}.{name}" if key else name
            )
            if change is not None:
                return change
        return None
    return None if started == now else (key, started, now)


def check_resumable(
    checkpoint: dict[str, Any], config: dict[str, Any], total_steps: int, planned_steps: int
) -> None:
    """Raise :class:`ConfigError` unless ``config`` can continue the run of ``checkpoint``.

    ``total_steps`` is the run's length now, ``planned_steps`` the length it started with.
    """
    change = first_change(checkpoint["config"], config)
    if change is not None:
        key, old, new = change
        allowed = ", ".join(
            f"{k}.*" if k in ("sweep", "trainer", "logger", "device") else k
            for k in MAY_CHANGE_ON_RESUME
            if k not in ("resume", "choices")
        )
        raise ConfigError(
            f"resume=true: {key} was {old!r} when this run started and is {new!r} now; "
            f"a resumed run keeps its settings (only {allowed} may change, "
            f"except {', '.join(KEPT_ON_RESUME)})"
        )
    done = steps_done(checkpoint)
    if total_steps < done:
        raise ConfigError(
            f"resume=true: the run has already taken {done} steps, more than the {total_steps} "
            "that trainer.epochs and trainer.max_steps now allow"
        )
    schedule = config["schedule"]["_target_"].rpartition(".")[2]
    if schedule in RUN_LENGTH_SCHEDULES and total_steps != planned_steps:
        raise ConfigError(
            f"resume=true: schedule={schedule} was laid over the run's {planned_steps} steps, "
            f"and {total_steps} now would bend the curve already followed; a run with this "
            "schedule keeps trainer.epochs and trainer.max_steps"
        )
