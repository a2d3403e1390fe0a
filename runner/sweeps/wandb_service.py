"""One W&B service for the jobs of a sweep that run side by side on this machine.

Every process that logs to W&B talks to W&B's service (``wandb-core``, a process of its own),
and starts one for itself unless its environment names one already running:
``wandb.setup()`` starts it and names it in ``os.environ``, for the processes started after.
joblib's workers and submitit's local jobs are started by the sweep's process, so when it
starts the service first they share it instead of starting one each
(``bench/bench_wandb_service.py`` measures what that saves). The basic launcher runs its
jobs in the sweep's own process, which shares its service anyway; a SLURM job runs on a node
of its own. ``logger.share_service=false`` leaves each process its own service.
"""

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner.platform.errors import ConfigError
from runner.platform.signals import interrupts_deferred
from runner.records.wandb_run import choose_mode
from runner.sweeps.threads import available_cores, parallel_jobs


def shares_a_service(config: DictConfig) -> bool:
    """Whether the sweep of ``config`` logs to W&B from several processes of this machine."""
    logger = config.get("logger") or {}
    try:
        mode = choose_mode(logger.get("mode", "auto"))
    except ConfigError:  # each job says so
        return False
    if mode == "disabled" or not logger.get("share_service", True):
        return False
    launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    return parallel_jobs(launcher, available_cores()) > 1  # type: ignore[arg-type]


class SharedWandbService(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``, before the sweep's report,
    which logs its own W&B run through the service before the service ends (Hydra ends the
    callbacks in reverse order)."""

    def __init__(self) -> None:
        self.started = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not shares_a_service(config):
            return
        with interrupts_deferred():  # W&B, loaded whole
            import wandb

        wandb.setup()
        self.started = True

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.started:
            import wandb

            wandb.teardown()
            self.started = False
