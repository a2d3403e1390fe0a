"""A paper's claims, stated once in ``conf/claims/<paper>.yaml``, and decided from the jobs
of the sweeps that test them.

A claim names the experiment that tests it, the metric, and a rule; the rule reads the jobs'
``summary.json`` metrics (or their logged history over a range of steps) and gives a verdict
with the numbers it compared. Jobs that differ only in their seed are pooled: the rule
compares their means, and the report gives each mean with its 95% interval.

The rules, each a small function of the selected jobs:

``compare``
    the ``a`` jobs' metric is ``greater``/``less`` than the ``b`` jobs' (times ``factor``), for
    every combination of the ``for_each`` settings;
``largest_at``
    the gain from ``b`` to ``a`` is largest where the ``across`` setting is ``at``;
``bound``
    every selected job's metric is ``at_least``/``at_most`` another metric or a value
    (``tolerance`` allowed), on its final value or on every logged value (``history``);
``near``
    every selected job's metric is within ``tolerance`` of another metric or a value;
``best``
    the jobs whose ``by`` setting is ``value`` have the best mean metric (``mode``).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.records.metrics import read_series
from runner.sweeps.seeds import Estimate

HOLDS, FAILS, NOT_RUN, UNDECIDED = "holds", "does not hold", "not run at this budget", "undecided"


@dataclass(frozen=True)
class Job:
    """One job of an experiment's sweep, as the rules see it."""

    number: int
    overrides: tuple[str, ...]
    status: str
    metrics: dict[str, float | None]
    run_dir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why it failed, when it did

    def setting(self, key: str) -> Any:
        """The value of ``key`` this job ran with: from its overrides (``optim=adam`` names
        a group's option), else from its resolved config."""
        for override in self.overrides:
            name, _, value = override.partition("=")
            if name.lstrip("+~") == key:
                return value
        return self.settings.get(key)


@dataclass(frozen=True)
class Check:
    """One comparison a rule made: what, the numbers, and whether it held."""

    label: str
    ours: str
    holds: bool | None  # None: a value was missing


@dataclass(frozen=True)
class Verdict:
    verdict: str
    summary: str
    checks: tuple[Check, ...] = ()
    run_dirs: tuple[str, ...] = ()


def same(value: Any, wanted: Any) -> bool:
    """A setting equals a wanted value, however YAML typed either (``0.1``, ``"0.1"``,
    ``true``, ``"true"``)."""
    if isinstance(wanted, list):
        return any(same(value, one) for one in wanted)
    if value is None:
        return wanted is None
    if str(value).lower() == str(wanted).lower():
        return True
    number, wanted_number = _as_float(value), _as_float(wanted)
    return number is not None and number == wanted_number


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def select(jobs: Sequence[Job], where: dict[str, Any] | None) -> list[Job]:
    return [job for job in jobs if all(same(job.setting(k), v) for k, v in (where or {}).items())]


def job_value(job: Job, metric: str, steps: Sequence[int] | None = None) -> float | None:
    """The job's final ``metric``, or with ``steps`` = [first, last] the mean of its logged
    values in that range. None for a job that did not complete or logged no finite value."""
    if job.status != "completed":
        return None
    if steps is None:
        value = job.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None
    series = read_series(job.run_dir / "metrics.jsonl").get(metric)
    if series is None:
        return None
    first, last = steps
    inside = [v for s, v in zip(series.steps, series.values, strict=True) if first <= s <= last]
    finite = [v for v in inside if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def estimate(
    jobs: Sequence[Job], metric: str, steps: Sequence[int] | None = None
) -> Estimate | None:
    return Estimate.of([job_value(job, metric, steps) for job in jobs])


def show(value: Estimate | float | None) -> str:
    """A value as the report prints it: 4 significant digits, ± the 95% interval's half
    width when seeds were pooled."""
    if value is None:
        return "–"
    if isinstance(value, Estimate):
        if value.high is None:
            return show(value.mean)
        return f"{show(value.mean)} ± {show(value.high - value.mean)}"
    return f"{value:.4g}"


def combinations(jobs: Sequence[Job], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The distinct values of ``keys`` among the jobs, in job order."""
    seen: list[dict[str, Any]] = []
    for job in jobs:
        combo = {key: job.setting(key) for key in keys}
        if combo not in seen:
            seen.append(combo)
    return seen


def describe(combo: dict[str, Any]) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in combo.items()) or "all"


def compare(jobs: Sequence[Job], rule: dict[str, Any]) -> list[Check]:
    metric, relation = rule["metric"], rule.get("relation", "greater")
    factor, steps = float(rule.get("factor", 1.0)), rule.get("steps")
    checks = []
    chosen = select(jobs, rule.get("where"))
    for combo in combinations(chosen, rule.get("for_each", [])):
        a = estimate(select(chosen, {**rule["a"], **combo}), metric, steps)
        b = estimate(select(chosen, {**rule["b"], **combo}), metric, steps)
        if a is None and rule.get("missing_a_holds") and b is not None:
            checks.append(Check(describe(combo), f"diverged vs {show(b)}", True))
            continue
        if a is None or b is None:
            checks.append(Check(describe(combo), f"{show(a)} vs {show(b)}", None))
            continue
        holds = a.mean > factor * b.mean if relation == "greater" else a.mean * factor < b.mean
        sign = ">" if relation == "greater" else "<"
        times = f"{factor:g} × " if factor != 1 else ""
        checks.append(Check(describe(combo), f"{show(a)} {sign} {times}{show(b)}", holds))
    return checks


def largest_at(jobs: Sequence[Job], rule: dict[str, Any]) -> list[Check]:
    metric, across = rule["metric"], rule["across"]
    chosen = select(jobs, rule.get("where"))
    gains: dict[str, float] = {}
    for combo in combinations(chosen, [across]):
        a = estimate(select(chosen, {**rule["a"], **combo}), metric)
        b = estimate(select(chosen, {**rule["b"], **combo}), metric)
        if a is None or b is None:
            return [Check(describe(combo), f"{show(a)} vs {show(b)}", None)]
        gains[str(combo[across])] = a.mean - b.mean
    if not gains:
        return []
    top = max(gains, key=gains.__getitem__)
    shown = ", ".join(f"{name} {gain:+.4g}" for name, gain in gains.items())
    return [Check(f"gain by {across.rsplit('.', 1)[-1]}", f"{shown}; largest: {top}",
                  same(top, rule["at"]))]  # fmt: skip


def target_of(job: Job, rule: dict[str, Any]) -> float | None:
    """What the job's metric is held against: ``value``, another of its metrics, or one of
    its settings (``than: model.model_mean``)."""
    if "than" not in rule:
        return float(rule["value"])
    if rule["than"] in job.metrics:
        return job_value(job, rule["than"])
    return _as_float(job.setting(rule["than"]))


def within(job: Job, rule: dict[str, Any], test: Callable[[float, float], bool]) -> Check:
    """``test(value, target)`` on the job's final value, or on each logged value."""
    label = (
        describe({key: job.setting(key) for key in rule.get("label_by", [])}) or f"job {job.number}"
    )
    target = target_of(job, rule)
    if rule.get("history"):
        series = read_series(job.run_dir / "metrics.jsonl").get(rule["metric"])
        values = [v for v in (series.values if series else ()) if math.isfinite(v)]
        if not values or target is None:
            return Check(label, "no values", None)
        worst = max(values) if rule.get("relation") == "at_most" else min(values)
        holding = sum(test(v, target) for v in values)
        return Check(label, f"{holding}/{len(values)} records; extreme {show(worst)}",
                     holding == len(values))  # fmt: skip
    value = job_value(job, rule["metric"])
    if value is None or target is None:
        return Check(label, f"{show(value)} vs {show(target)}", None)
    return Check(label, f"{show(value)} vs {show(target)}", test(value, target))


def bound(jobs: Sequence[Job], rule: dict[str, Any]) -> list[Check]:
    tolerance = float(rule.get("tolerance", 0.0))
    if rule.get("relation", "at_least") == "at_least":
        test = lambda value, target: value >= target - tolerance  # noqa: E731
    else:
        test = lambda value, target: value <= target + tolerance  # noqa: E731
    return [within(job, rule, test) for job in select(jobs, rule.get("where"))]


def near(jobs: Sequence[Job], rule: dict[str, Any]) -> list[Check]:
    tolerance = float(rule["tolerance"])
    return [
        within(job, rule, lambda value, target: abs(value - target) <= tolerance)
        for job in select(jobs, rule.get("where"))
    ]


def best(jobs: Sequence[Job], rule: dict[str, Any]) -> list[Check]:
    metric, by, mode = rule["metric"], rule["by"], rule.get("mode", "min")
    means = {}
    chosen = select(jobs, rule.get("where"))
    for combo in combinations(chosen, [by]):
        found = estimate(select(chosen, combo), metric)
        if found is None:
            return [Check(describe(combo), "–", None)]
        means[str(combo[by])] = found
    if not means:
        return []
    pick = min if mode == "min" else max
    winner = pick(means, key=lambda name: means[name].mean)
    ordered = sorted(means, key=lambda name: means[name].mean, reverse=mode == "max")
    shown = " < ".join if mode == "min" else " > ".join
    ranking = shown(f"{name} {show(means[name])}" for name in ordered)
    return [Check(f"{metric} by {by}", ranking, same(winner, rule["value"]))]


RULES: dict[str, Callable[[Sequence[Job], dict[str, Any]], list[Check]]] = {
    "compare": compare,
    "largest_at": largest_at,
    "bound": bound,
    "near": near,
    "best": best,
}


def decide(jobs: Sequence[Job], rule: dict[str, Any]) -> Verdict:
    """The verdict of one rule on an experiment's jobs."""
    checks = tuple(RULES[rule["kind"]](jobs, rule))
    run_dirs = tuple(str(job.run_dir) for job in jobs)
    if not checks or any(check.holds is None for check in checks):
        missing = sum(check.holds is None for check in checks)
        failed = next((job for job in jobs if job.error), None)
        why = f" (job {failed.number} failed: {failed.error})" if failed else ""
        return Verdict(UNDECIDED, f"{missing or 'no'} comparisons lack a value{why}", checks,
                       run_dirs)  # fmt: skip
    held = sum(bool(check.holds) for check in checks)
    verdict = HOLDS if held == len(checks) else FAILS
    return Verdict(verdict, f"{held}/{len(checks)} hold", checks, run_dirs)
