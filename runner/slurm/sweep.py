"""The sweep's side of SLURM: which jobs to submit, which to wait for, and how each ended.

A sweep's jobs go to SLURM as one job array through submitit. Their SLURM ids are recorded in
``<sweep dir>/.submitit/jobs.json``, so that a later command (the same one with
``resume=true``) finds them again: it waits for jobs still queued or running, reads back jobs
that completed, and submits the others (never started, failed, stopped), which continue from
their checkpoints. Whatever SLURM does to a job (cancel, kill, a time limit with no requeue
left), the job is recorded in its directory, as a job that failed in the runner is, and the
sweep goes on to its report.
"""

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from runner.platform.errors import DamagedFile, first_line
from runner.platform.files import read_json, write_json_atomically, write_text_atomically
from runner.records.overrides import without_resume
from runner.records.summary import write_summary
from runner.slurm.requeue import RESUME

JOBS_FILE = ".submitit/jobs.json"
WAITING_STATES = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                  "COMPLETING", "SUSPENDED", "PREEMPTED", "RESIZING", "SIGNALING", "STAGE_OUT")  # fmt: skip


@dataclass(frozen=True)
class PlannedJob:
    """One job of the sweep, as Hydra numbers and configures it."""

    number: int
    overrides: list[str]
    config: DictConfig  # the job's config, Hydra's settings included

    @property
    def run_dir(self) -> Path:
        hydra = self.config.hydra
        return Path(hydra.sweep.dir) / str(hydra.sweep.subdir)

    @property
    def label(self) -> str:
        return " ".join(without_resume(self.overrides)) or f"job {self.number}"


def plan_job(
    launcher_config: DictConfig, load_sweep_config: Any, overrides: list[str], number: int
) -> PlannedJob:
    """The job's config as Hydra's launchers compose it (``load_sweep_config``), numbered."""
    config = load_sweep_config(launcher_config, overrides)
    with open_dict(config.hydra.job):
        config.hydra.job.num = number
    return PlannedJob(number, overrides, config)


def read_submitted(sweep_dir: Path) -> dict[int, str]:
    """The SLURM id of each job number submitted so far."""
    return {int(number): job_id for number, job_id in read_json(sweep_dir / JOBS_FILE).items()}


def record_submitted(sweep_dir: Path, submitted: dict[int, str]) -> None:
    known = read_submitted(sweep_dir) | submitted
    write_json_atomically({str(n): known[n] for n in sorted(known)}, sweep_dir / JOBS_FILE)


def queue_states(job_ids: list[str]) -> dict[str, str]:
    """The state of each of ``job_ids`` still in SLURM's queue (``squeue``); those that have
    left it are absent."""
    if not job_ids:
        return {}
    result = subprocess.run(
        ["squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    states = dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)
    return {job_id: state for job_id, state in states.items() if state in WAITING_STATES}


def completed_value(job: PlannedJob) -> tuple[bool, float | None]:
    """Whether the job already completed with these same overrides, and its objective."""
    summary = read_json(job.run_dir / "summary.json")
    if summary.get("status") != "completed":
        return False, None
    try:
        before = OmegaConf.load(job.run_dir / ".hydra/overrides.yaml")
    except FileNotFoundError:
        return False, None
    if sorted(without_resume(before)) != sorted(without_resume(job.overrides)):
        return False, None
    value = (summary.get("objective") or {}).get("value")
    return True, float(value) if isinstance(value, int | float) else None


def slurm_result(slurm_job: Any) -> Any:
    """What a submitit job returned. Its result file cut short or not a pickle is
    :class:`DamagedFile`, naming it; a job that failed or that SLURM ended raises submitit's
    own error."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        return slurm_job.result()
    except (FailedJobError, UncompletedJobError):
        raise
    except Exception as error:  # what unpickling made of the bytes
        raise DamagedFile(
            slurm_job.paths.result_pickle, f"cannot be read ({type(error).__name__}: {first_line(error)})",
            "the job is recorded failed, and resume=true runs it again",
        ) from None  # fmt: skip


def record_slurm_ending(job: PlannedJob, slurm_id: str, error: BaseException) -> str:
    """Write down in the job's directory that SLURM ended it without a result; return the
    status recorded.

    A run that had stopped with a checkpoint stays ``interrupted`` (a resumed sweep continues
    it); anything else is ``failed``. A job that never started also gets the ``.hydra`` files
    the sweep report reads.
    """
    run_dir = job.run_dir
    if not (run_dir / ".hydra" / "hydra.yaml").exists():
        write_hydra_files(job)
    summary = read_json(run_dir / "summary.json")
    reason = str(error).strip().splitlines()
    message = f"SLURM job {slurm_id} ended without a result: {reason[-1] if reason else type(error).__name__}"
    if isinstance(error, DamagedFile):
        message = f"SLURM job {slurm_id} ended, and {error}"
    status = "interrupted" if summary.get("status") == "interrupted" else "failed"
    if summary:
        summary |= {"status": status, "error": message}
        write_json_atomically(summary, run_dir / "summary.json")
    else:
        write_summary(run_dir / "summary.json", status=status, run_dir=str(run_dir), error=message)
    return status


def write_hydra_files(job: PlannedJob) -> None:
    """``.hydra/{config,hydra,overrides}.yaml`` as Hydra writes them when a job starts."""
    hydra_dir = job.run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    config = OmegaConf.to_container(job.config, resolve=False)
    hydra_settings = {"hydra": config.pop("hydra")}
    write_text_atomically(OmegaConf.to_yaml(OmegaConf.create(config)), hydra_dir / "config.yaml")
    write_text_atomically(
        OmegaConf.to_yaml(OmegaConf.create(hydra_settings)), hydra_dir / "hydra.yaml"
    )
    write_text_atomically(
        OmegaConf.to_yaml(OmegaConf.create(job.overrides)), hydra_dir / "overrides.yaml"
    )


def collect_command(config: DictConfig) -> str:
    """The command that collects this sweep's results later: the same one, with
    ``resume=true`` and the sweep's directory."""
    hydra_overrides = [
        o for o in config.hydra.overrides.hydra
        if not o.startswith(("hydra.sweep.dir=", "hydra.launcher.wait=", "hydra.mode="))
    ]  # fmt: skip
    task = without_resume(config.hydra.overrides.task)
    arguments = [*hydra_overrides, *task, RESUME, f"hydra.sweep.dir={config.hydra.sweep.dir}"]
    return "python -m runner -m " + " ".join(shlex.quote(a) for a in arguments)


SBATCH_HINTS = {  # what sbatch says -> the launcher setting behind it
    "Invalid generic resource": "gpus_per_node",
    "invalid partition": "partition",
    "Invalid partition": "partition",
    "Memory specification can not be satisfied": "mem_gb",
    "Requested node configuration is not available": "cpus_per_task",
    "Invalid account": "additional_parameters",
    "time limit": "timeout_min",
}


def sbatch_refusal(message: str, params: dict[str, Any]) -> str:
    """sbatch's refusal of a sweep's jobs (submitit's ``FailedJobError``) in one line: what
    sbatch said, and the ``hydra.launcher.*`` setting to change."""
    said = " ".join(line.removeprefix("sbatch: error: ").strip() for line in message.splitlines()
                    if line.strip())  # fmt: skip
    setting = next((key for sign, key in SBATCH_HINTS.items() if sign in said), None)
    if setting is None:
        return f"sbatch refused the jobs: {said}; check the hydra.launcher.* settings"
    value = params.get(setting)
    return f"sbatch refused the jobs: {said}; change hydra.launcher.{setting} (it is {value!r})" + (
        "; a cluster without GPUs needs hydra.launcher.gpus_per_node=0"
        if setting == "gpus_per_node"
        else ""
    )
