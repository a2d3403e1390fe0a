"""The study in its storage: opened (or created) with the search's settings, checked against
what it was started with, and read back trial by trial.

Every process of a search opens the same study through its storage URL: the sweep that asks
for trials, each job that reports to its trial, and any other sweep sharing the study. The
storage is the one place they meet, so nothing here is kept in memory between calls.

Two marks keep the count of a study honest (:func:`counts_towards_budget`): a trial that was
interrupted is failed and its parameters queued again as a new trial (Optuna's
``RetryHeartbeatStaleTrialCallback``), and a trial asked for after the budget was already
taken by another worker is failed at once as ``surplus``. Neither counts towards
``n_trials``.
"""

import contextlib
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import optuna
from optuna.distributions import BaseDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

from runner.platform.errors import ConfigError, first_line
from runner.platform.files import read_json
from runner.records.summary import write_summary
from runner.search.space import describe, grid_of

SAMPLERS = ("tpe", "random", "grid", "cmaes", "nsga2")
PRUNERS = ("none", "median", "hyperband")
MODES = {"max": "maximize", "min": "minimize"}
SURPLUS = "runner:surplus"  # system attribute of a trial asked for beyond the budget
RUN_DIR = "run_dir"  # user attribute: the job directory of the trial
SCHEMA_ATTEMPTS = 5

optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def heartbeats_without_warnings() -> Iterator[None]:
    """Heartbeats are an experimental argument of RDBStorage, and Optuna expects them only
    from ``Study.optimize``; here the sweep records them for the trials it launched (see
    :mod:`runner.search.sweep`), as it should, so the warnings say nothing to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


@dataclass(frozen=True)
class StudySettings:
    """Where the study is and how it searches: ``hydra.sweeper``'s settings, checked."""

    storage: str
    study_name: str
    objectives: dict[str, str]  # metric -> max | min, in order
    sampler: str = "tpe"
    seed: int | None = None
    pruner: str = "none"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner_options: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: int = 10
    grace_period: int = 60

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"hydra.sweeper.sampler={self.sampler} is not a sampler; use one of: {', '.join(SAMPLERS)}"
            )
        if self.pruner not in PRUNERS:
            raise ConfigError(
                f"hydra.sweeper.pruner={self.pruner} is not a pruner; use one of: {', '.join(PRUNERS)}"
            )
        if not self.objectives:
            raise ConfigError("hydra.sweeper.objectives: name at least one metric to optimise")
        for metric, mode in self.objectives.items():
            if mode not in MODES:
                raise ConfigError(
                    f"hydra.sweeper.objectives: {metric} is {mode!r}; a metric is optimised to max or min"
                )
        if self.multi_objective and self.pruner != "none":
            raise ConfigError(
                f"hydra.sweeper.pruner={self.pruner}: Optuna prunes single-objective studies only; "
                "with several objectives use hydra.sweeper.pruner=none"
            )
        if self.multi_objective and self.sampler == "cmaes":
            raise ConfigError(
                "hydra.sweeper.sampler=cmaes optimises one objective; with several use tpe, "
                "random, grid or nsga2"
            )
        if self.heartbeat_interval < 1 or self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                "hydra.sweeper.heartbeat_interval must be at least 1 s and grace_period longer "
                f"than it (they are {self.heartbeat_interval} and {self.grace_period})"
            )

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def directions(self) -> list[str]:
        return [MODES[mode] for mode in self.objectives.values()]


def open_storage(
    url: str,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> RDBStorage:
    """Optuna's storage at ``url`` (SQLite, PostgreSQL, MySQL, ...), or a one-line error.

    SQLite waits up to a minute for a lock, so that several workers and their jobs can share
    one file.
    """
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with heartbeats_without_warnings():
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=on_stale,
                )
        except Exception as error:  # the driver's or SQLAlchemy's own error, whatever the database
            reason = first_line(error)
            creating = "already exists" in reason or type(error).__name__ == "IntegrityError"
            if creating and attempt + 1 < SCHEMA_ATTEMPTS:
                time.sleep(0.2)  # another worker is creating the tables of a new database
                continue
            if isinstance(error, ImportError):  # SQLAlchemy found no driver for the database
                reason += (
                    "; install its Python driver: pip install 'runner[postgres]' for PostgreSQL"
                )
            raise ConfigError(f"hydra.sweeper.storage={url}: cannot open it: {reason}") from None
    raise AssertionError("unreachable")


def make_pruner(name: str, options: dict[str, Any]) -> optuna.pruners.BasePruner:
    """``median`` stops a trial whose value is worse than the median of earlier trials at the
    same epoch; ``hyperband`` runs successive halving over several budgets."""
    pruners = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }
    try:
        return pruners[name](**options)
    except TypeError as error:
        raise ConfigError(f"hydra.sweeper.pruner_options: {error}") from None


def make_sampler(
    settings: StudySettings, seed: int | None, space: dict[str, BaseDistribution]
) -> optuna.samplers.BaseSampler:
    options = dict(settings.sampler_options)
    try:
        if settings.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, **options)
        if settings.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed, **options)
        if settings.sampler == "grid":
            return optuna.samplers.GridSampler(grid_of(space), seed=seed)
        if settings.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, **options)
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    except TypeError as error:
        raise ConfigError(f"hydra.sweeper.sampler_options: {error}") from None


def trial_seed(seed: int | None, number: int) -> int | None:
    """The sampler's seed for trial ``number`` of a search seeded with ``seed``: mixed by
    NumPy's SeedSequence, since consecutive integers seed random generators whose first
    draws are nearly alike."""
    if seed is None:
        return None
    return int(numpy.random.SeedSequence([seed, number]).generate_state(1)[0])


def open_study(
    settings: StudySettings,
    space: dict[str, BaseDistribution],
    on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> optuna.Study:
    """The study named in ``settings``, created if new; refused in one line if it was started
    with another search space or other objectives."""
    storage = open_storage(
        settings.storage, settings.heartbeat_interval, settings.grace_period, on_stale
    )
    searched = {"search_space": describe(space), "objectives": settings.objectives}
    try:
        return load_or_create_study(settings, storage, searched)
    except (optuna.exceptions.StorageInternalError, SQLAlchemyError, LookupError) as error:
        raise damaged_storage(settings, error) from None
    except ValueError as error:  # a column SQLAlchemy cannot convert (a zeroed date), not ours
        if isinstance(error, ConfigError):
            raise
        raise damaged_storage(settings, error) from None


def damaged_storage(settings: StudySettings, error: Exception) -> ConfigError:
    return ConfigError(
        f"hydra.sweeper.storage={settings.storage}: cannot read study {settings.study_name} "
        f"from it, it is damaged ({first_line(error.__cause__ or error)}); "
        "restore it from a copy, or start the search with another storage"
    )


def load_or_create_study(
    settings: StudySettings, storage: RDBStorage, searched: dict[str, Any]
) -> optuna.Study:
    """The study, its trials read once through (a damaged database fails here, not mid-search)."""
    try:
        study = optuna.load_study(study_name=settings.study_name, storage=storage)
    except KeyError:  # no such study yet
        study = optuna.create_study(
            study_name=settings.study_name, storage=storage, directions=settings.directions,
            load_if_exists=True,
        )  # fmt: skip
        for key, value in searched.items():
            study.set_user_attr(key, value)
        return study
    if not described(study, searched):
        for key, value in searched.items():  # a study begun outside the runner
            study.set_user_attr(key, value)
    check_same_search(settings, study, searched)
    study.get_trials(deepcopy=False)
    return study


DESCRIBING_S = 10.0
"""How long a worker waits for another that has just created the study to write down its
search space (``create_study`` and ``set_user_attr`` are separate writes)."""


def described(study: optuna.Study, searched: dict[str, Any]) -> bool:
    """Whether the study records what it searches, waiting for a worker that created it a
    moment ago to finish writing it."""
    deadline = time.monotonic() + DESCRIBING_S
    while not all(key in study.user_attrs for key in searched):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling the storage, not waiting out a guess
    return True


def check_same_search(settings: StudySettings, study: optuna.Study, searched: dict) -> None:
    """A study continues only the search it began: the same settings searched over the same
    ranges, for the same objectives."""
    started = {key: study.user_attrs.get(key) for key in searched}
    for key, now in searched.items():
        if started[key] == now:
            continue
        before, after = started[key] or {}, now
        changed = sorted(
            name for name in set(before) | set(after) if before.get(name) != after.get(name)
        )
        what = "search space" if key == "search_space" else "objectives"
        verb = "differs" if len(changed) == 1 else "differ"
        raise ConfigError(
            f"hydra.sweeper.study_name={settings.study_name}: the study in {settings.storage} "
            f"has another {what} ({', '.join(changed)} {verb}); search the same space, or start "
            "a new study with another study_name or storage"
        )


def tell(
    study: optuna.Study,
    trial: int | optuna.Trial,
    state: TrialState,
    values: list[float] | None = None,
) -> None:
    """Finish a trial; one another process finished first is left as it is."""
    # The grid sampler ends its study once the grid is done, with a RuntimeError outside
    # Study.optimize; the trial is told by then.
    with contextlib.suppress(RuntimeError):
        study.tell(trial, values, state=state, skip_if_finished=True)


def requeued_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the interrupted trials whose parameters were queued again."""
    return {number for trial in trials for number in trial.system_attrs.get("retry_history", [])}


def counts_towards_budget(trial: FrozenTrial, requeued: set[int]) -> bool:
    """Whether the trial is one of the study's ``n_trials``: finished (completed, pruned or
    failed), running or waiting, but not an interrupted one queued again, nor surplus."""
    if trial.state != TrialState.FAIL:
        return True
    return trial.number not in requeued and not trial.system_attrs.get(SURPLUS)


def budgeted_trials(study: optuna.Study) -> list[FrozenTrial]:
    trials = study.get_trials(deepcopy=False)
    requeued = requeued_numbers(trials)
    return [trial for trial in trials if counts_towards_budget(trial, requeued)]


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Fail an interrupted trial, queue its parameters again as a new trial, and say so in its
    job directory (when it is on this machine), so the sweep report does not take it for a
    failure."""
    storage = study._storage
    try:
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # finished meanwhile, or another worker got there first
    on_stale_trial(study, storage.get_trial(trial._trial_id))


def record_requeued(trial: FrozenTrial) -> None:
    """``summary.json`` of the trial's job says it was interrupted and its trial re-queued."""
    run_dir = trial.user_attrs.get(RUN_DIR)
    if run_dir is None or not Path(run_dir).is_dir():
        return
    summary = read_json(Path(run_dir) / "summary.json")
    write_summary(
        Path(run_dir) / "summary.json",
        **{
            **summary,
            "status": "requeued",
            "run_dir": run_dir,
            "error": f"trial {trial.number} was interrupted; its parameters run again as a new trial",
        },
    )


def on_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's callback for a trial whose heartbeat stopped (its worker died): queue its
    parameters again and record it in its job directory."""
    with heartbeats_without_warnings():  # the callback is as experimental as heartbeats
        RetryHeartbeatStaleTrialCallback()(study, trial)
    record_requeued(trial)
