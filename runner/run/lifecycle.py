"""One training run, from its config to its objective: settings checked, the run directory
locked, then prepared (writing nothing) and executed (writing its directory, always ending
with a ``summary.json``), or launched in several processes that each do the same.

A run of several processes is this same run in each of them
(:mod:`runner.platform.distributed`): ``device.processes=N`` first launches them
(:mod:`runner.run.processes`), each then runs here, and rank 0 alone writes.
"""

import dataclasses
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from runner.platform.console import console
from runner.platform.device import check_processes, resolve_device
from runner.platform.distributed import Processes, current_processes
from runner.records.lock import DirectoryLock
from runner.run.execute import execute
from runner.run.prepare import PreparedRun, SearchTrial, prepare
from runner.run.processes import launch_processes
from runner.run.settings import RunSettings, settings_of


def run(
    cfg: DictConfig, run_dir: Path, trial: SearchTrial | None = None, draw_figures: bool = True
) -> float:
    """Train and evaluate the configured experiment in ``run_dir``; return the objective.

    First the run is prepared (settings checked, checkpoint found and checked, data, model
    and optimizers built and restored), writing nothing: a :class:`ConfigError` for an
    unusable setting leaves no trace. Then it is executed. ``trial``: the Optuna trial the
    run is, when a search started it. ``draw_figures=False`` leaves the curves drawn from its
    files (``curves.png``, the line plots) to whoever runs it: a sweep draws its jobs' at its end.

    With ``device.processes`` > 1, outside a process group, this launches the processes,
    each of which runs this function, and returns rank 0's objective.
    """
    settings = dataclasses.replace(settings_of(cfg), draws_figures=draw_figures)
    processes = current_processes()
    if processes.several:  # a rank: the process that started the ranks holds the lock
        return run_in_this_process(settings, run_dir, processes, trial)
    with DirectoryLock(run_dir):
        return run_in_this_process(settings, run_dir, processes, trial)


def run_in_this_process(
    settings: RunSettings, run_dir: Path, processes: Processes, trial: SearchTrial | None
) -> float:
    """:func:`run`, in a process that may write ``run_dir``."""
    if not processes.main:
        console.quiet = True
    if not processes.several and settings.device.processes > 1:
        device = resolve_device(settings.device.type)
        check_processes(settings.device.processes, settings.data.batch_size, device)
        return launch_processes(run_in_rank, settings.config, run_dir, device.type, trial)
    prepared = prepare(settings, run_dir, processes, trial)
    if not isinstance(prepared, PreparedRun):  # resumed, and found completed: its objective
        return prepared
    return execute(prepared)


def run_in_rank(config: dict[str, Any], run_dir: Path, trial: SearchTrial | None) -> float:
    """What each launched process runs: the run of the resolved ``config``, in its group."""
    return run(OmegaConf.create(config), run_dir, trial)
