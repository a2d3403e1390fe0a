"""``hydra/launcher=slurm``: Hydra's submitit launcher for SLURM, made to survive a cluster.

On top of the plugin it extends (``hydra_submitit_launcher``), each job

- checkpoints at a step boundary and is requeued by submitit when SLURM signals its time
  limit, and resumes from that checkpoint when it runs again (:mod:`runner.slurm.requeue`);
- is recorded in its directory however SLURM ends it, and the sweep goes on to its report
  (:mod:`runner.slurm.sweep`);
- is remembered by its SLURM id, so ``hydra.launcher.wait=false`` can return once the jobs are
  queued, and the same command with ``resume=true`` later waits for them, reads back those
  that completed, and submits the rest.

This module is imported whenever Hydra starts (plugin discovery): it imports nothing heavy.
"""

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    SlurmLauncher as SubmititSlurmLauncher,
)
from omegaconf import OmegaConf

from runner.platform.errors import DamagedFile


@dataclass
class RunnerSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.runner_plugins.slurm_launcher.SlurmLauncher"
    # false: return once the jobs are queued; collect them later with resume=true
    wait: bool = True


ConfigStore.instance().store(
    group="hydra/launcher", name="runner_slurm", node=RunnerSlurmConf, provider="runner"
)


class SlurmLauncher(SubmititSlurmLauncher):
    def __init__(self, wait: bool = True, **params: Any) -> None:
        super().__init__(**params)
        self.wait = wait

    # In the SLURM job ---------------------------------------------------------------------

    def __call__(
        self,
        sweep_overrides: list[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: dict[type, Singleton],
    ) -> JobReturn:
        from runner.slurm.requeue import overrides_of_this_attempt, requeue_when_stopped

        overrides = overrides_of_this_attempt(sweep_overrides)
        with requeue_when_stopped():
            return super().__call__(overrides, job_dir_key, job_num, job_id, singleton_state)

    # In the command that launched the sweep ------------------------------------------------

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        from runner.slurm import sweep

        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        load = self.hydra_context.config_loader.load_sweep_config
        jobs = [
            sweep.plan_job(self.config, load, list(overrides), initial_job_idx + index)
            for index, overrides in enumerate(job_overrides)
        ]
        submitted = sweep.read_submitted(sweep_dir) if self.config.resume else {}
        waiting = sweep.queue_states(
            sorted({submitted[j.number] for j in jobs if j.number in submitted})
        )
        returns: dict[int, JobReturn] = {}
        attached, to_submit = [], []
        for job in jobs:
            slurm_id = submitted.get(job.number)
            done, value = sweep.completed_value(job) if self.config.resume else (False, None)
            if slurm_id in waiting:
                attached.append((job, slurm_id))
            elif done:
                returns[job.number] = self._job_return(job, value)
                print(f"job {job.number} ({job.label}) already completed", file=sys.stderr)
            else:
                to_submit.append(job)
        slurm_jobs = [(job, self._attach(slurm_id)) for job, slurm_id in attached]
        slurm_jobs += self._submit(to_submit, sweep_dir)
        for job, slurm_job in slurm_jobs:
            print(f"job {job.number} ({job.label}): SLURM job {slurm_job.job_id}", file=sys.stderr)
        if not self.wait:
            return [self._job_return(job, None) for job in jobs]
        for job, slurm_job in slurm_jobs:
            returns[job.number] = self._result(job, slurm_job)
        return [returns[job.number] for job in jobs]

    def _executor(self) -> Any:
        """submitit's SLURM executor with this launcher's settings, as the plugin builds it."""
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in shared else f"slurm_{k}": v for k, v in params.items()}
        )
        return executor

    def _submit(self, jobs: list[Any], sweep_dir: Path) -> list[tuple[Any, Any]]:
        from runner.slurm import sweep

        if not jobs:
            return []
        arguments = [
            (job.overrides, "hydra.sweep.dir", job.number, f"job_id_for_{job.number}", Singleton.get_state())
            for job in jobs
        ]  # fmt: skip
        executor = self._executor()
        folder = Path(str(self.params["submitit_folder"]))
        while "%" in folder.name:  # a job's own folder (%j): its pickles go to the one above
            folder = folder.parent
        before = set(folder.glob("*")) | set(folder.glob(".*"))
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's refusal
                slurm_jobs = executor.map_array(self, *zip(*arguments, strict=True))
        except Exception as error:  # submitit's FailedJobError: sbatch refused the jobs
            if type(error).__name__ != "FailedJobError":
                raise
            for left in (set(folder.glob("*")) | set(folder.glob(".*"))) - before:
                left.unlink(missing_ok=True)  # what was written for jobs never queued
            print(f"error: {sweep.sbatch_refusal(str(error), self.params)}", file=sys.stderr)
            raise SystemExit(2) from None
        sweep.record_submitted(
            sweep_dir, {j.number: s.job_id for j, s in zip(jobs, slurm_jobs, strict=True)}
        )
        return list(zip(jobs, slurm_jobs, strict=True))

    def _attach(self, slurm_id: str) -> Any:
        from submitit.slurm.slurm import SlurmJob

        return SlurmJob(folder=self.params["submitit_folder"], job_id=slurm_id)

    def _result(self, job: Any, slurm_job: Any) -> JobReturn:
        """Wait for the job; however SLURM ended it, a result: what the job returned, or
        None with the ending written in the job's directory."""
        from runner.slurm import sweep

        try:
            return sweep.slurm_result(slurm_job)
        except Exception as error:  # submitit's FailedJobError or UncompletedJobError, DamagedFile
            status = sweep.record_slurm_ending(job, slurm_job.job_id, error)
            ending = error if isinstance(error, DamagedFile) else "ended without a result"
            print(f"error: job {job.number} ({job.label}) {status}: SLURM job {slurm_job.job_id} "
                  f"{ending}", file=sys.stderr)  # fmt: skip
            return self._job_return(job, None)

    @staticmethod
    def _job_return(job: Any, value: float | None) -> JobReturn:
        return JobReturn(
            overrides=job.overrides,
            cfg=job.config,
            working_dir=str(job.run_dir),
            task_name=str(job.config.hydra.job.name),
            status=JobStatus.COMPLETED,
            _return_value=value,
        )
