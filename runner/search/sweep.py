"""An Optuna search as a Hydra sweep: ask the study for trials, launch each as job ``N`` (its
trial number) through Hydra's launcher, and stop when the study holds ``n_trials``.

``n_trials`` is the study's total, not this command's: a rerun, or a second worker on the
same storage, asks only for what is missing, so finished trials are never run again and job
numbers (and directories) continue where the study is. While its trials run, the sweep
records their heartbeats in the storage; a trial whose heartbeat stops (its worker was
killed) is failed and its parameters queued again by whichever worker notices first
(:func:`runner.search.study.on_stale_trial`). A worker stays until no trial of the study is
running, so the one that ends last has seen the whole study.
"""

import math
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, ConfigError
from runner.records.overrides import without_resume
from runner.search.results import report_results
from runner.search.space import as_overrides, grid_of, parse_search, suggest
from runner.search.study import (
    RUN_DIR,
    SURPLUS,
    StudySettings,
    budgeted_trials,
    heartbeats_without_warnings,
    make_pruner,
    make_sampler,
    on_stale_trial,
    open_study,
    requeue,
    tell,
    trial_seed,
)
from runner.search.trial import objectives_of


@dataclass(frozen=True)
class Budget:
    """How many trials the study should hold, and how many this worker runs at once."""

    n_trials: int
    n_jobs: int

    def __post_init__(self) -> None:
        for name in ("n_trials", "n_jobs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(
                    f"hydra.sweeper.{name} must be a whole number of at least 1, not {getattr(self, name)!r}"
                )


class Heartbeats:
    """Record the heartbeat of each running trial of this worker every ``interval`` seconds,
    in a background thread, so other workers can tell it is alive."""

    def __init__(self, study: optuna.Study, interval: float) -> None:
        self.study, self.interval = study, interval
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True, name="optuna-heartbeats")

    def add(self, trial_id: int) -> None:
        self.study._storage.record_heartbeat(trial_id)
        with self.lock:
            self.trial_ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.discard(trial_id)

    def beat(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                running = list(self.trial_ids)
            for trial_id in running:
                self.study._storage.record_heartbeat(trial_id)

    @contextmanager
    def running(self) -> Iterator["Heartbeats"]:
        self.thread.start()
        try:
            yield self
        finally:
            self.stopped.set()
            self.thread.join()


class OptunaSearch:
    """One worker of a search: the loop of ask, launch, repeat."""

    def __init__(
        self,
        settings: StudySettings,
        budget: Budget,
        launcher: Any,
        sweep_dir: Path,
        arguments: Sequence[str],
    ) -> None:
        self.settings, self.launcher, self.sweep_dir = settings, launcher, sweep_dir
        self.space, self.fixed = parse_search(arguments)
        self.fixed = without_resume(self.fixed)  # each trial is a new job: nothing to resume
        if not self.space:
            raise ConfigError(
                "an Optuna search needs a search space: hydra.sweeper.params, or overrides "
                "such as 'optim.lr=tag(log, interval(1e-4, 1e-1))' (choice, range, interval)"
            )
        n_trials = budget.n_trials
        if settings.sampler == "grid":
            n_trials = min(n_trials, math.prod(map(len, grid_of(self.space).values())))
        self.n_trials, self.n_jobs = n_trials, budget.n_jobs
        sampler = make_sampler(settings, settings.seed, self.space)  # its options, checked first
        self.study = open_study(settings, self.space, on_stale=on_stale_trial)
        self.study.sampler = sampler
        note_other_fixed_settings(self.study, self.fixed)
        self.waiting_said = False

    def run(self) -> optuna.Study:
        with Heartbeats(self.study, self.settings.heartbeat_interval).running() as heartbeats:
            while True:
                with heartbeats_without_warnings():
                    optuna.storages.fail_stale_trials(self.study)
                budgeted = budgeted_trials(self.study)
                # A queued trial (re-queued after an interruption) is in the budget already,
                # and waits for a worker to ask for it.
                taken = [t for t in budgeted if t.state != TrialState.WAITING]
                room = self.n_trials - len(taken)
                if room > 0:
                    self.launch(self.ask(min(room, self.n_jobs), heartbeats), heartbeats)
                    continue
                running = [t.number for t in budgeted if not t.state.is_finished()]
                if not running:
                    return self.study
                self.wait_for(running)

    def ask(self, count: int, heartbeats: Heartbeats) -> list[optuna.Trial]:
        """Up to ``count`` new trials (or queued ones), each within the study's budget."""
        trials = []
        for _ in range(count):
            with heartbeats_without_warnings():
                trial = self.study.ask()  # the next number, or a queued trial with its parameters
            heartbeats.add(trial._trial_id)
            if not self.within_budget(trial.number):
                self.study._storage.set_trial_system_attr(trial._trial_id, SURPLUS, True)
                tell(self.study, trial, TrialState.FAIL)
                heartbeats.discard(trial._trial_id)
                break
            self.study.sampler = make_sampler(
                self.settings, self.seed_for(trial.number), self.space
            )
            suggest(trial, self.space)
            trials.append(trial)
        return trials

    def seed_for(self, number: int) -> int | None:
        """A seed of its own for each trial: workers sharing a study, and reruns, never
        propose the same trial twice, and the same command proposes the same trials. (The
        grid sampler keeps ``seed``: it numbers the grid's points in an order the seed
        shuffles.)"""
        if self.settings.sampler == "grid":
            return self.settings.seed
        return trial_seed(self.settings.seed, number)

    def within_budget(self, number: int) -> bool:
        """Whether fewer than ``n_trials`` budgeted trials come before trial ``number``: two
        workers asking at once cannot both take the last place."""
        earlier = [t for t in budgeted_trials(self.study) if t.number < number]
        return len(earlier) < self.n_trials

    def launch(self, trials: list[optuna.Trial], heartbeats: Heartbeats) -> None:
        """Run the trials as jobs numbered by their trial numbers, then fail any the job left
        running (it died without telling); on Ctrl-C, queue the unfinished ones again."""
        try:
            for trial in trials:
                run_dir = self.sweep_dir / str(trial.number)
                if (run_dir / ".hydra").exists():
                    raise ConfigError(
                        f"{run_dir} holds a job that is not trial {trial.number} of study "
                        f"{self.settings.study_name}; give this study a hydra.sweep.dir of its own"
                    )
                trial.set_user_attr(RUN_DIR, str(run_dir.resolve()))
            for batch in consecutive(trials):
                overrides = [self.fixed + as_overrides(trial.params) for trial in batch]
                self.launcher.launch(overrides, initial_job_idx=batch[0].number)
        except BaseException:
            for trial in trials:
                if self.state_of(trial) == TrialState.RUNNING:
                    requeue(self.study, self.study._storage.get_trial(trial._trial_id))
            raise
        finally:
            for trial in trials:
                heartbeats.discard(trial._trial_id)
        for trial in trials:
            if self.state_of(trial) == TrialState.RUNNING:
                tell(self.study, trial, TrialState.FAIL)

    def state_of(self, trial: optuna.Trial) -> TrialState:
        return self.study._storage.get_trial(trial._trial_id).state

    def wait_for(self, running: list[int]) -> None:
        """Wait for trials that other workers run: if one of them dies, its trial is queued
        again and this worker runs it."""
        if not self.waiting_said:
            print(
                f"waiting for trials {', '.join(map(str, running))} of study "
                f"{self.settings.study_name}, running elsewhere",
                file=sys.stderr,
            )
            self.waiting_said = True
        time.sleep(min(self.settings.heartbeat_interval, 5))


def note_other_fixed_settings(study: optuna.Study, fixed: list[str]) -> None:
    """Say so when the study's earlier trials ran with other fixed settings (another
    ``trainer.epochs``, say): their values may not compare. The first command's are kept."""
    before = study.user_attrs.get("fixed_overrides")
    if before is None:
        study.set_user_attr("fixed_overrides", fixed)
    elif set(before) != set(fixed):
        was = " ".join(sorted(set(before) - set(fixed))) or "nothing more"
        now = " ".join(sorted(set(fixed) - set(before))) or "nothing more"
        print(
            f"note: study {study.study_name} began with {was} where this command has {now}; "
            "trials run with other settings may not compare",
            file=sys.stderr,
        )


def consecutive(trials: list[optuna.Trial]) -> Iterator[list[optuna.Trial]]:
    """The trials in runs of consecutive numbers: Hydra's launchers number a batch's jobs from
    its first, and job ``N`` must be trial ``N``. (Another worker's trials can fall between.)"""
    batch: list[optuna.Trial] = []
    for trial in sorted(trials, key=lambda t: t.number):
        if batch and trial.number != batch[-1].number + 1:
            yield batch
            batch = []
        batch.append(trial)
    if batch:
        yield batch


def run_search(
    sweeper: dict[str, Any], config: DictConfig, launcher: Any, arguments: Sequence[str]
) -> optuna.Study | None:
    """The sweep of ``hydra/sweeper=optuna``: check the settings, run this worker's share of
    the study, report what the study found. A setting that cannot work is one line on stderr
    and exit status 2, with nothing written."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    created = not sweep_dir.exists()
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    try:
        objective = OmegaConf.to_container(config.objective, resolve=True)
        settings = StudySettings(
            storage=sweeper["storage"], study_name=sweeper["study_name"],
            objectives=objectives_of(sweeper, objective), sampler=sweeper["sampler"],
            seed=sweeper["seed"], pruner=sweeper["pruner"],
            sampler_options=sweeper["sampler_options"], pruner_options=sweeper["pruner_options"],
            heartbeat_interval=sweeper["heartbeat_interval"], grace_period=sweeper["grace_period"],
        )  # fmt: skip
        make_pruner(settings.pruner, settings.pruner_options)  # its options, checked now
        budget = Budget(sweeper["n_trials"], sweeper["n_jobs"])
        sweep_dir.mkdir(parents=True, exist_ok=True)
        search = OptunaSearch(settings, budget, launcher, sweep_dir, [*params, *arguments])
        study = search.run()
    except ConfigError as error:
        if created and sweep_dir.is_dir() and not any(sweep_dir.iterdir()):
            sweep_dir.rmdir()
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_CODE) from None
    logger = OmegaConf.to_container(config.logger, resolve=True)
    report_results(study, settings, sweep_dir, logger)
    return study
