"""A sweep's jobs composed in batches the size of what runs at once, so the first job starts
at once however long the sweep.

Hydra's basic sweeper composes every job's config before it launches the first (to check
the batch), about a sixth of a second each here: a 10,000-job sweep would wait half an hour
in silence. With ``max_batch_size`` it composes and launches a batch at a time. Unless
``hydra.sweeper.max_batch_size`` is set, a batch is what the launcher runs at once: one job
for the basic launcher, a few rounds of the parallel jobs for joblib and submitit's local
launcher; a SLURM launcher submits up to :data:`SUBMITTED_AT_ONCE` jobs as one job array.

The launchers' own lines for every job they launch are silenced: a line at the start says how
many jobs there are and where they go, and each job says one line as it ends.
"""

import logging
import math
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.sweeps.threads import available_cores, parallel_jobs

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
ROUNDS_PER_BATCH = 4  # a batch waits for its slowest job: several rounds keep workers busy
SUBMITTED_AT_ONCE = 1000  # jobs a SLURM launcher submits as one array
LAUNCHER_LOGGERS = (  # each says two lines per job it launches
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_joblib_launcher._core",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
)


def batch_size(launcher: dict[str, Any]) -> int:
    """How many jobs to compose and launch at once under ``launcher`` (Hydra's config)."""
    target = str(launcher.get("_target_", ""))
    if "slurm" in target.lower():
        return SUBMITTED_AT_ONCE
    at_once = parallel_jobs(launcher, available_cores())
    return 1 if at_once == 1 else at_once * ROUNDS_PER_BATCH


class SweepBatches(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``: Hydra builds the sweeper
    from the config after this has set its batch size."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        for name in LAUNCHER_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        sweeper = config.hydra.sweeper
        if sweeper.get("_target_") != BASIC_SWEEPER:
            return
        launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
        if sweeper.get("max_batch_size") is None:
            with open_dict(sweeper):
                sweeper.max_batch_size = batch_size(launcher)  # type: ignore[arg-type]
        count = job_count(config)
        print(f"sweep: {count} job{'s' * (count != 1)}, {sweeper.max_batch_size} at a time, into "
              f"{config.hydra.sweep.dir}", flush=True)  # fmt: skip


def job_count(config: DictConfig) -> int:
    """How many jobs the basic sweeper launches: the product of the swept keys' values."""
    from runner.sweeps.values import swept_keys, task_overrides

    keys = swept_keys(task_overrides(config), set(), {})
    return math.prod(len(key.values) or 1 for key in keys)
