"""A sweep directory, guarded: one live sweep in it, and on resume its files checked first.

A Hydra callback, run once in the process that launches the sweep. It takes the sweep
directory's lock (:mod:`runner.records.lock`) before any job starts, so a second sweep (or a second
``resume=true``) into a directory a live sweep is using is refused in one line. On resume it
reads every file the jobs and the sweep's report will read, and stops at the first damaged
one, naming it, before any job runs or any file is written.
"""

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner.platform.errors import (
    CONFIG_ERROR_EXIT_CODE,
    ConfigError,
    DamagedFile,
    first_line,
    unwritable_place,
)
from runner.platform.files import check_archive, read_json
from runner.platform.signals import when_interrupted_outside_a_run_say
from runner.records.lock import DirectoryLock
from runner.records.metrics import read_metrics
from runner.search import OPTUNA_SWEEPER
from runner.sweeps.job import how_to_continue
from runner.sweeps.outcomes import read_yaml

JOB_REMEDY = "delete that job's directory to run the job afresh, or resume the sweep elsewhere"


def check_sweep_files(sweep_dir: Path) -> None:
    """Raise :class:`DamagedFile` for the first damaged file of a job of ``sweep_dir``."""
    for hydra_dir in sorted(sweep_dir.glob("**/.hydra")):
        job_dir = hydra_dir.parent
        for name in ("overrides.yaml", "hydra.yaml", "config.yaml"):
            path = hydra_dir / name
            try:
                if path.exists():
                    read_yaml(path)
            except Exception as error:  # the YAML parser's errors, or a file of another kind
                problem = f"cannot be read as YAML ({first_line(error)})"
                raise DamagedFile(path, problem, JOB_REMEDY) from None
        read_json(job_dir / "summary.json", remedy=JOB_REMEDY)
        if (job_dir / "metrics.jsonl").is_file():
            read_metrics(job_dir / "metrics.jsonl")
        for checkpoint in sorted((job_dir / "checkpoints").glob("*.pt")):
            check_archive(checkpoint, JOB_REMEDY)


class SweepDirectoryGuard(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``, before the report."""

    def __init__(self) -> None:
        self.lock: DirectoryLock | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        shared = OmegaConf.select(config, "hydra.sweeper._target_") == OPTUNA_SWEEPER
        # an Optuna search's workers share their sweep directory, coordinated by the study's
        # storage; each trial's own directory is still locked by its run
        self.lock = None if shared else DirectoryLock(sweep_dir, setting="hydra.sweep.dir")
        try:
            if self.lock is not None:
                self.lock.acquire()
            if OmegaConf.select(config, "resume", default=False):
                check_sweep_files(sweep_dir)
            when_interrupted_outside_a_run_say(how_to_continue(sweep_dir))  # between jobs
        except (ConfigError, OSError) as error:
            if isinstance(error, ConfigError):
                message = str(error)
            elif (place := unwritable_place(error)) is not None:
                message = f"{place}; choose a directory that can be written (hydra.sweep.dir)"
            else:
                raise
            self.on_multirun_end(config)
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(CONFIG_ERROR_EXIT_CODE) from None  # Hydra would only warn

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        when_interrupted_outside_a_run_say(None)
        if self.lock is not None:
            self.lock.release()
