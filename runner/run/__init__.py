"""One run: its settings checked, then prepared (checkpoint, data, model, optimizers built and
restored, nothing written), executed (trained, tested, closed with a ``summary.json``), or
launched in several processes.

``run(cfg, run_dir)`` is the Python API (also ``from runner.train import run``); it is
imported when first asked for, so that the config's schema (:mod:`runner.run.schema`) and
settings load without torch.
"""

from typing import Any

__all__ = ["run"]  # noqa: F822 (see __getattr__)


def __getattr__(name: str) -> Any:
    if name == "run":
        from runner.run.lifecycle import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
