"""A run's overrides: what Hydra recorded of its command line (``.hydra/overrides.yaml``),
and the ones that make it the run it is."""

from collections.abc import Iterable
from pathlib import Path


def without_resume(overrides: Iterable[str]) -> list[str]:
    """The overrides that make a job what it is: ``resume=...`` only says how it is run."""
    return [str(o) for o in overrides if not str(o).startswith("resume=")]


def recorded_overrides(run_dir: Path) -> list[str]:
    """The overrides a run was started with, from Hydra's record of it; none without one."""
    recorded = run_dir / ".hydra" / "overrides.yaml"
    if not recorded.exists():
        return []
    import yaml  # Hydra writes the file with PyYAML, which it depends on

    return without_resume(yaml.safe_load(recorded.read_text(encoding="utf-8")) or [])
