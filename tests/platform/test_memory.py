"""runner.platform.memory: a job keeps the memory it frees instead of faulting it in again."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.platform.memory import glibc_mallopt, keep_freed_memory

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(glibc_mallopt() is None, reason="malloc is not glibc's")

ROUNDS = textwrap.dedent(
    """
    import json, resource, sys
    from runner.platform.memory import keep_freed_memory

    kept = keep_freed_memory() if sys.argv[1] == "keep" else None

    def page_faults_of_a_round():
        # four 31 MiB blocks alive at once, as a VAE's K = 100 likelihood makes them
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        blocks = [bytearray(31 << 20) for _ in range(4)]
        del blocks
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    print(json.dumps({"kept": kept, "faults": [page_faults_of_a_round() for _ in range(3)]}))
    """
)


def rounds(mode: str, env: dict[str, str] | None = None) -> dict:
    """Page faults of three rounds of allocating and freeing in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, cwd=REPO,
        env=env, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_memory_freed_is_used_again_without_page_faults() -> None:
    pages = 4 * (31 << 20) // 4096
    default = rounds("default")["faults"]
    assert all(faults > pages // 2 for faults in default)  # handed back, and faulted in again

    kept = rounds("keep")
    assert kept["kept"] is True
    first, *later = kept["faults"]
    assert first > pages // 2  # the heap grows once
    assert all(faults < pages // 50 for faults in later)


def test_malloc_settings_of_the_user_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    assert keep_freed_memory() is False
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert keep_freed_memory() is False
