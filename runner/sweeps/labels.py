"""How the jobs of a sweep are told apart: by the overrides they do not all share."""

from collections.abc import Sequence

SEED = "seed"


def override_key(override: str) -> str:
    """``optim.lr`` of ``optim.lr=0.1`` (and of ``+optim.lr=0.1``)."""
    return override.partition("=")[0].lstrip("+~")


def without_seed(overrides: Sequence[str]) -> tuple[str, ...]:
    return tuple(o for o in overrides if override_key(o) != SEED)


def varies_seed(rows: Sequence[Sequence[str]]) -> bool:
    """Whether the rows (each a job's overrides) were given more than one seed."""
    return len({o for row in rows for o in row if override_key(o) == SEED}) > 1


def shared_overrides(rows: Sequence[Sequence[str]]) -> list[str]:
    """The overrides every row has, in the first row's order; none for a single row, which
    has nothing to be told apart from."""
    if len(rows) < 2:
        return []
    shared = set(rows[0]).intersection(*rows[1:])
    return [o for o in rows[0] if o in shared]


def label(overrides: Sequence[str], shared: Sequence[str], otherwise: str) -> str:
    """The overrides of a row that not every row shares, or ``otherwise`` if there are none."""
    return " ".join(o for o in overrides if o not in shared) or otherwise
