"""What each job of a sweep left in its directory, read back: its overrides, how it ended,
its objective and metrics."""

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from runner.platform.files import as_number, read_json
from runner.records.overrides import without_resume
from runner.sweeps.labels import shared_overrides

TABLE_METRICS = 4  # key metrics shown beside the objective; the files hold them all


@dataclass(frozen=True)
class JobOutcome:
    number: int
    overrides: list[str]
    status: str  # completed | pruned | requeued | failed | interrupted | skipped | unfinished
    run_dir: Path
    objective: str | None = None
    mode: str | None = None
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_time_s: float | None = None
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # those a sweep table asks for


def read_outcome(hydra_dir: Path, setting_keys: Sequence[str] = ()) -> JobOutcome:
    """The outcome of the job whose Hydra files are in ``hydra_dir``, with its settings of
    ``setting_keys``."""
    run_dir = hydra_dir.parent
    config = OmegaConf.load(hydra_dir / "config.yaml") if setting_keys else None
    settings = {key: OmegaConf.select(config, key) for key in setting_keys}
    overrides = without_resume(read_yaml(hydra_dir / "overrides.yaml"))
    number = int(read_yaml(hydra_dir / "hydra.yaml")["hydra"]["job"]["num"])
    summary = read_json(run_dir / "summary.json")
    objective = summary.get("objective") or {}
    return JobOutcome(
        number=number,
        overrides=overrides,
        status=summary.get("status", "unfinished"),
        run_dir=run_dir,
        objective=objective.get("metric"),
        mode=objective.get("mode"),
        value=as_number(objective.get("value")),
        metrics={name: as_number(v) for name, v in summary.get("metrics", {}).items()},
        wall_time_s=as_number(summary.get("wall_time_s")),
        error=summary.get("error"),
        settings=settings,
    )


def read_yaml(path: Path) -> Any:
    """A YAML file Hydra wrote, read by libyaml's parser where there is one: a sweep's report
    reads three per job, and OmegaConf's reader took a hundredth of a second for each."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)


def read_outcomes(sweep_dir: Path, setting_keys: Sequence[str] = ()) -> list[JobOutcome]:
    """Every job under ``sweep_dir``, in job order."""
    hydra_dirs = [p.parent for p in sweep_dir.glob("**/.hydra/hydra.yaml")]
    jobs = (read_outcome(d, setting_keys) for d in hydra_dirs)
    return sorted(jobs, key=lambda job: job.number)


def best_first(jobs: Sequence[JobOutcome]) -> list[JobOutcome]:
    """Completed jobs from the best objective to the worst, then pruned ones the same way,
    then the rest in job order."""

    def rank(job: JobOutcome) -> tuple[int, float, int]:
        group = {"completed": 0, "pruned": 2}.get(job.status)
        if group is None:
            return (4, 0.0, job.number)
        if job.value is None or not math.isfinite(job.value):
            return (group + 1, 0.0, job.number)
        return (group, -job.value if job.mode == "max" else job.value, job.number)

    return sorted(jobs, key=rank)


def common_overrides(jobs: Sequence[JobOutcome]) -> list[str]:
    """Overrides every job shares: said once, so each row shows only what varies."""
    return shared_overrides([job.overrides for job in jobs])


def metric_names(jobs: Sequence[JobOutcome]) -> list[str]:
    return sorted({name for job in jobs for name in job.metrics})


def key_metrics(jobs: Sequence[JobOutcome]) -> list[str]:
    """The test metrics (else validation ones) other than the objective, for the table."""
    objectives = {job.objective for job in jobs}
    names = [n for n in metric_names(jobs) if n not in objectives]
    tested = [n for n in names if n.startswith("test/")]
    return (tested or [n for n in names if n.startswith("val/")])[:TABLE_METRICS]


def main_objective(jobs: Sequence[JobOutcome]) -> tuple[str | None, str | None]:
    """The objective most jobs report, with its mode."""
    named = Counter((job.objective, job.mode) for job in jobs if job.objective)
    return named.most_common(1)[0][0] if named else (None, None)
