"""What a near miss on the command line was meant to be: the spelling of a user who comes from
PyTorch Lightning or lightning-hydra-template (``peer_spellings.yaml``), or a name a small edit
away (difflib), told as ``did you mean ...?``."""

import difflib
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

PEER_SPELLINGS = Path(__file__).with_name("peer_spellings.yaml")


@cache
def peer_spellings() -> dict[str, dict[str, Any]]:
    """``keys``, ``groups`` and ``values``: each spelling, and what it is here (``meant``) or
    why there is no such thing (``why``)."""
    table = OmegaConf.to_container(OmegaConf.load(PEER_SPELLINGS))
    return {kind: table.get(kind) or {} for kind in ("keys", "groups", "values")}


def answer(entry: dict[str, str]) -> str:
    """``did you mean X?``, with the reason when the table gives one; or, where the runner has
    no counterpart, the reason alone (what it does instead)."""
    meant, why = entry.get("meant"), entry.get("why")
    if meant and why:
        return f"did you mean {meant}? ({why})"
    if meant:
        return f"did you mean {meant}?"
    return str(why)


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate fewest edits away from ``word`` (a letter added, dropped, changed, or two
    swapped), if it is a few edits away; difflib's similarity breaks ties and finds the rest."""
    near = [c for c in candidates if edits(word, c) <= max(1, len(word) // 3)]
    if near:
        return min(
            near, key=lambda c: (edits(word, c), -difflib.SequenceMatcher(None, word, c).ratio())
        )
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


def edits(a: str, b: str) -> int:
    """The edits that turn ``a`` into ``b``: insertions, deletions, substitutions and swaps of
    two neighbouring letters (the optimal string alignment distance)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def for_key(key: str, siblings: list[str]) -> str | None:
    """What ``key``, which is not a setting, was meant to be: a peer's spelling, or a sibling
    key (a key of the same section) a small edit away."""
    peer = peer_spellings()["keys"].get(key)
    if peer is not None:
        return answer(peer)
    parent, _, name = key.rpartition(".")
    match = closest(name, siblings)
    return f"did you mean {parent + '.' if parent else ''}{match}?" if match else None


def for_choice(name: str, value: str, allowed: list[str]) -> str | None:
    """What ``name=value`` was meant to be, where ``value`` is not one of ``allowed`` (a group's
    options, or a setting's choices)."""
    table = peer_spellings()
    peer = table["groups"].get(f"{name}={value}") or table["values"].get(f"{name}={value}")
    if peer is not None:
        return answer(peer)
    match = closest(value, allowed)
    return f"did you mean {name}={match}?" if match else None


def for_value(key: str, value: str) -> str | None:
    """A peer's spelling of a value of a choice setting (``trainer.precision=16-mixed``)."""
    peer = peer_spellings()["values"].get(f"{key}={value}")
    return answer(peer) if peer is not None else None
