"""What a resumed run may change, and the one-line refusal when it changes anything else.

A resumed run must be the run it continues: the same model, optimizer, data and seed, or its
checkpoint would load into something else (or, with another batch size, point at batches
that do not exist). How long to train, how to log and where to compute may change.
"""

from pathlib import Path
from typing import Any

from runner.platform.console import console
from runner.platform.errors import ConfigError
from runner.platform.files import read_json, remove_unfinished_writes
from runner.records.metrics import check_metrics_file
from runner.training.checkpoint import read_checkpoint, steps_done
from runner.training.schedules import RUN_LENGTH_SCHEDULES

MAY_CHANGE_ON_RESUME = (
    "resume",
    "choices",
    "sweep",
    "trainer",
    "logger",
    "device",
    "data.root",
    "data.dataset.root",  # ${data.root} in every data option
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


def checkpoint_to_resume(run_dir: Path, resume: bool) -> dict[str, Any] | None:
    """``last.pt`` when ``resume=true`` finds one; None to start afresh.

    Without ``resume=true``, a directory that already holds a run is refused: its files stay
    as they are. With it, what a write cut short left behind is removed, and the metrics file
    is checked against the checkpoint before anything else is written.
    """
    last = run_dir / "checkpoints" / "last.pt"
    if not resume:
        if last.exists():
            raise ConfigError(
                f"{run_dir} already holds a run; pass resume=true to continue it, or choose "
                "another run directory (hydra.run.dir)"
            )
        return None
    written_to = (run_dir, last.parent, run_dir / "figures")  # where a run writes atomically
    for path in [path for folder in written_to for path in remove_unfinished_writes(folder)]:
        console.print(f"removed {path.name}, left by a write that did not finish")
    if not last.exists():
        console.print(f"resume=true: no checkpoint in {last.parent}; starting a new run")
        return None
    checkpoint = read_checkpoint(last)
    state = checkpoint["state"]
    check_metrics_file(
        run_dir / "metrics.jsonl", state["metrics_bytes"], state.get("metrics_sha256", "")
    )
    return checkpoint


def planned_steps(config: dict[str, Any], batches_per_epoch: int) -> int:
    """The length of the run a checkpoint's ``config`` started."""
    trainer = config["trainer"]
    return (
        trainer["max_steps"]
        if trainer["max_steps"] is not None
        else trainer["epochs"] * batches_per_epoch
    )


def completed_objective(run_dir: Path, total_steps: int) -> float | None:
    """The objective of a run that already completed this many steps, or stopped early;
    None otherwise."""
    previous = read_json(
        run_dir / "summary.json",
        remedy="delete it (checkpoints/last.pt holds the run's state) and resume again",
    )
    if previous.get("status") != "completed":
        return None
    if previous["steps"] == total_steps or previous.get("stop_reason") == "early_stop":
        return previous["objective"]["value"]
    return None


def check_resumable(
    checkpoint: dict[str, Any], config: dict[str, Any], total_steps: int, batches_per_epoch: int
) -> None:
    """Raise :class:`ConfigError` unless ``config`` can continue the run of ``checkpoint``;
    ``total_steps`` is the run's length now."""
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
    planned = planned_steps(checkpoint["config"], batches_per_epoch)
    if schedule in RUN_LENGTH_SCHEDULES and total_steps != planned:
        raise ConfigError(
            f"resume=true: schedule={schedule} was laid over the run's {planned} steps, "
            f"and {total_steps} now would bend the curve already followed; a run with this "
            "schedule keeps trainer.epochs and trainer.max_steps"
        )
