"""A sweep over seeds: the jobs of each setting pooled into a mean, a spread and a 95%
confidence interval, so that settings are compared by more than one draw each."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.sweeps.labels import without_seed
from runner.sweeps.outcomes import JobOutcome


def t_quantile_975(degrees: int) -> float:
    """The 97.5th percentile of Student's t with ``degrees`` degrees of freedom: the half-width
    of a 95% confidence interval of a mean, in standard errors (12.71 for 2 samples, 2.26 for
    10, 1.96 in the limit).

    Found by bisection on P(|T| < t), which has a closed form for whole degrees of freedom
    (Abramowitz and Stegun 26.7.3 and 26.7.4).
    """
    if degrees < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {degrees}")
    low, high = 0.0, 1000.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if probability_within(middle, degrees) < 0.95 else (low, middle)
    return (low + high) / 2


def probability_within(t: float, degrees: int) -> float:
    """P(|T| < t) for Student's t with ``degrees`` degrees of freedom."""
    theta = math.atan(t / math.sqrt(degrees))
    cos2 = math.cos(theta) ** 2
    term, total = 1.0, 1.0
    if degrees % 2:  # odd: (2/π)(θ + sinθ cosθ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ...))
        for k in range(1, (degrees - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        series = math.sin(theta) * math.cos(theta) * total if degrees > 1 else 0.0
        return 2 / math.pi * (theta + series)
    for k in range(1, degrees // 2):  # even: sinθ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...)
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


@dataclass(frozen=True)
class Estimate:
    """The mean of n values, their sample standard deviation, and the 95% confidence
    interval of the mean (mean ± t·sd/√n); no spread or interval from a single value."""

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> "Estimate | None":
        """The estimate from the finite ``values``; None when there are none."""
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        mean = statistics.fmean(finite)
        if len(finite) < 2:
            return cls(1, mean, None, None, None)
        std = statistics.stdev(finite)
        half = t_quantile_975(len(finite) - 1) * std / math.sqrt(len(finite))
        return cls(len(finite), mean, std, mean - half, mean + half)

    def as_record(self) -> dict[str, float | int | None]:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci95": [self.low, self.high]}


@dataclass(frozen=True)
class Setting:
    """The jobs of a sweep that differ only in their seed, and what they measured together
    (completed jobs only)."""

    overrides: tuple[str, ...]
    jobs: tuple[int, ...]
    objective: Estimate | None
    metrics: dict[str, Estimate] = field(default_factory=dict)


def pool_seeds(jobs: Sequence[JobOutcome], metrics: Sequence[str]) -> list[Setting]:
    """One :class:`Setting` per combination of the other overrides, in the order of the
    first job of each, with estimates of the objective and of ``metrics``."""
    groups: dict[tuple[str, ...], list[JobOutcome]] = {}
    for job in sorted(jobs, key=lambda job: job.number):
        groups.setdefault(without_seed(job.overrides), []).append(job)
    settings = []
    for overrides, members in groups.items():
        completed = [job for job in members if job.status == "completed"]
        estimates = {
            name: Estimate.of([job.metrics.get(name) for job in completed]) for name in metrics
        }
        settings.append(
            Setting(
                overrides,
                tuple(job.number for job in members),
                Estimate.of([job.value for job in completed]),
                {name: estimate for name, estimate in estimates.items() if estimate is not None},
            )
        )
    return settings


def best_by_mean(settings: Sequence[Setting], mode: str | None) -> list[Setting]:
    """The settings from the best mean objective to the worst; those without one last."""

    def rank(setting: Setting) -> tuple[int, float]:
        if setting.objective is None:
            return (1, 0.0)
        return (0, -setting.objective.mean if mode == "max" else setting.objective.mean)

    return sorted(settings, key=rank)
