"""A job's side of its Optuna trial: it reports the objective after every validation, stops
when the study's pruner says so, and tells the study how it ended.

The job does this itself, through the storage, so that a trial's record does not hang on the
process that launched it (a SLURM job tells its result even if its sweep was stopped). Job
``N`` of an Optuna sweep is trial ``N`` of the study; the job hands the link to it
(:class:`TrialLink`) to its run, which hands it to each of its processes.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from runner.platform.errors import ConfigError
from runner.search.study import make_pruner, open_storage, tell


@dataclass(frozen=True)
class TrialLink:
    """Which trial of which study a job is, and how that study prunes."""

    storage: str
    study_name: str
    number: int
    objectives: dict[str, str]  # metric -> max | min
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)

    def pruning(self, main: bool) -> "TrialPruning | None":
        """What the run's loop asks after each validation (None when the study prunes
        nothing); ``main``: whether this process is the run's rank 0, the one that talks to
        the study."""
        return None if self.pruner == "none" else TrialPruning(self, main)

    def open(self) -> optuna.Trial:
        """The trial, to report to; pruning decisions use the study's pruner."""
        storage = open_storage(self.storage)
        study = optuna.load_study(
            study_name=self.study_name, storage=storage,
            sampler=optuna.samplers.RandomSampler(),  # a job samples nothing
            pruner=make_pruner(self.pruner, self.pruner_options),
        )  # fmt: skip
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, self.number)
        return optuna.Trial(study, trial_id)


def objectives_of(sweeper: dict[str, Any], objective: dict[str, Any]) -> dict[str, str]:
    """``hydra.sweeper.objectives`` (metric -> max | min), or the run's own objective."""
    objectives = sweeper.get("objectives")
    if objectives is None:
        return {objective["metric"]: objective["mode"]}
    if not isinstance(objectives, dict) or not objectives:
        raise ConfigError(
            f"hydra.sweeper.objectives={objectives} should map metrics to max or min, "
            "e.g. {val/acc: max, wall_time_s: min}"
        )
    return {str(metric): str(mode) for metric, mode in objectives.items()}


def link_of_job(sweeper: dict[str, Any], objective: dict[str, Any], number: int) -> TrialLink:
    """The trial of job ``number`` of a search by the runner's Optuna sweeper (``sweeper``:
    its ``hydra.sweeper`` settings)."""
    return TrialLink(
        storage=sweeper["storage"],
        study_name=sweeper["study_name"],
        number=number,
        objectives=objectives_of(sweeper, objective),
        pruner=sweeper["pruner"],
        pruner_options=dict(sweeper.get("pruner_options") or {}),
    )


class TrialPruning:
    """What the training loop asks after each validation: report the value, then whether the
    study's pruner stops the trial here. Only the main process talks to the study; every
    process gets its answer (the loop shares it)."""

    def __init__(self, link: TrialLink, main: bool) -> None:
        self.trial = link.open() if main else None

    def should_prune(self, value: float, epoch: int) -> bool:
        if self.trial is None or not math.isfinite(value):
            return False
        self.trial.report(value, step=epoch)
        return self.trial.should_prune()


def tell_outcome(link: TrialLink, summary: dict[str, Any]) -> TrialState:
    """Tell the study how the job ended, from its ``summary.json``: completed with the value
    of each objective, pruned, or failed (also when an objective was not measured or is not a
    finite number). Return the state told."""
    status = summary.get("status")
    values = [objective_value(summary, metric) for metric in link.objectives]
    if status == "pruned":
        state, told = TrialState.PRUNED, None
    elif status == "completed" and all(v is not None and math.isfinite(v) for v in values):
        state, told = TrialState.COMPLETE, values
    else:
        state, told = TrialState.FAIL, None
    study = optuna.load_study(study_name=link.study_name, storage=open_storage(link.storage))
    tell(study, link.number, state, told)
    return state


def objective_value(summary: dict[str, Any], metric: str) -> float | None:
    """A final metric of the run (``val/acc``), or a figure of its summary (``wall_time_s``)."""
    value = summary.get("metrics", {}).get(metric, summary.get(metric))
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
