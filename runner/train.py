"""The single entry point: ``python -m runner [overrides]`` and the ``runner`` command.

Hydra composes the config from ``conf/``; the job checks it and runs it (:func:`runner.run.run`:
one run, perhaps in several processes, or a job of a sweep) and returns the objective that
Hydra's sweepers optimise. The command line around it, checked before Hydra starts, is
:mod:`runner.cli`.

The Python API: ``from runner.train import CONF_DIR, run``.
"""

from typing import Any

import hydra
from omegaconf import DictConfig

from runner.cli.command_line import answer_command_line
from runner.cli.hydra_setup import CONF_DIR, prepare_hydra
from runner.cli.job import run_job
from runner.platform.signals import (
    INTERRUPTED_EXIT_CODE,
    stop_on_sigterm,
    tell_interrupted_outside_a_run,
    when_interrupted_outside_a_run_say,
)
from runner.platform.startup import mark_job_start

__all__ = ["CONF_DIR", "command", "main", "run"]  # noqa: F822 (run: see __getattr__)

prepare_hydra()  # before any config is composed


def __getattr__(name: str) -> Any:
    """``from runner.train import run`` without importing torch before a job needs it:
    ``--help``, ``--cfg`` and one-line errors answer without it."""
    if name == "run":
        from runner.run import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_job(cfg: DictConfig) -> float | None:
    mark_job_start()
    return run_job(cfg)


def main() -> None:
    """``python -m runner`` and the ``runner`` command."""
    stop_on_sigterm()
    try:
        answer_command_line(_hydra_job)
    except KeyboardInterrupt:  # a job that had begun has said how to continue
        tell_interrupted_outside_a_run()  # before the run, or between a sweep's jobs
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    finally:
        when_interrupted_outside_a_run_say(None)  # main may run again (the Python API)


def command() -> None:
    """The process's entry (``python -m runner``, ``runner``): :func:`main`, then the exit
    without the interpreter's teardown (:func:`runner.platform.process_exit.leave`)."""
    from runner.platform.process_exit import leave

    try:
        main()
    except SystemExit as stop:
        leave(stop.code)
    leave(0)
