"""``hydra/sweeper=optuna``: Optuna searches on today's Optuna, through its ask-and-tell API.

The study lives in an Optuna storage (SQLite in the sweep directory unless
``hydra.sweeper.storage`` names another database), so a search survives its command: rerun
it to continue, or start the same command on several machines to share it. Jobs report to
their trial and are pruned from inside (:mod:`runner.search.trial`); the sweep loop is
:mod:`runner.search.sweep`.

This module is imported whenever Hydra starts (plugin discovery): it imports nothing heavy.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class RunnerOptunaConf:
    _target_: str = "hydra_plugins.runner_plugins.optuna_sweeper.OptunaSweeper"
    storage: str = "sqlite:///${hydra.sweep.dir}/optuna.db"  # any Optuna storage URL
    study_name: str = "search"
    n_trials: int = 20  # the study's total: a rerun runs only the missing ones
    n_jobs: int = 2  # trials launched at once (side by side under hydra/launcher=joblib)
    sampler: str = "tpe"  # tpe | random | grid | cmaes | nsga2
    seed: int | None = None
    pruner: str = "none"  # none | median | hyperband
    # metric -> max | min; null: the run's objective (objective.metric, objective.mode).
    # Untyped, so that a whole mapping can replace null from the command line.
    objectives: Any = None
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner_options: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: int = 10  # seconds between a running trial's heartbeats
    grace_period: int = 60  # a trial without a heartbeat this long was interrupted
    params: dict[str, str] | None = None  # the search space: key -> choice/range/interval


ConfigStore.instance().store(
    group="hydra/sweeper", name="runner_optuna", node=RunnerOptunaConf, provider="runner"
)


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        from runner.search.sweep import run_search

        settings = {
            key: OmegaConf.to_container(value) if isinstance(value, DictConfig) else value
            for key, value in self.settings.items()
        }
        run_search(settings, self.config, self.launcher, arguments)
