"""Metrics as series over steps, and their mean over seeds."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One metric of one run: its values and the step and epoch each was logged at."""

    steps: tuple[int, ...]
    values: tuple[float, ...]
    epochs: tuple[int, ...]

    def at_epoch(self, epoch: int) -> float | None:
        """The last value logged at ``epoch`` (an epoch's mean is logged as it ends)."""
        found = [v for e, v in zip(self.epochs, self.values, strict=True) if e == epoch]
        return found[-1] if found else None

    @property
    def last(self) -> float:
        return self.values[-1]


@dataclass(frozen=True)
class Band:
    """The mean of several runs' series at the steps all of them logged, with the standard
    deviation across the runs (0 for a single run)."""

    steps: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    runs: int


def mean_band(series: Sequence[Series]) -> Band:
    """The mean and spread over ``series``, one per seed, at their common steps."""
    by_step = [dict(zip(s.steps, s.values, strict=True)) for s in series]
    common = sorted(set(by_step[0]).intersection(*by_step[1:]))
    means, spreads = [], []
    for step in common:
        values = [run[step] for run in by_step]
        means.append(statistics.fmean(values))
        spreads.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return Band(tuple(common), tuple(means), tuple(spreads), len(series))
