"""How many CPU threads a job gives torch, so parallel sweep jobs share the cores.

torch starts one thread per core in every process. Two jobs of a ``hydra/launcher=joblib``
sweep on a 2-core machine would then run four threads on two cores and each go slower than
alone; one thread each keeps both cores busy without the contention.
"""

from collections.abc import Mapping
from typing import Any

from runner.platform.environment import available_cores


def parallel_jobs(launcher: Mapping[str, Any], cores: int) -> int:
    """How many jobs of the sweep run at once on this machine under ``launcher`` (Hydra's config).

    joblib runs ``n_jobs`` (negative counts back from the cores, as joblib does: -1 is all);
    submitit's local launcher starts every job at once, so as many as there are cores is
    assumed; the basic launcher runs one job at a time, as does each SLURM allocation.
    """
    n_jobs = launcher.get("n_jobs")
    if isinstance(n_jobs, int) and n_jobs != 0:
        return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    if str(launcher.get("_target_", "")).endswith(".LocalLauncher"):
        return cores
    return 1


def threads_per_job(launcher: Mapping[str, Any]) -> int | None:
    """torch threads for one job: its share of the cores, or None to keep torch's default.

    A submitit job that asked for ``cpus_per_task`` uses that many; a joblib job its share of
    this machine's cores; a job of the basic launcher has the machine to itself.
    """
    cpus_per_task = launcher.get("cpus_per_task")
    if isinstance(cpus_per_task, int) and cpus_per_task > 0:
        return cpus_per_task
    cores = available_cores()
    jobs = parallel_jobs(launcher, cores)
    return max(1, cores // jobs) if jobs > 1 else None
