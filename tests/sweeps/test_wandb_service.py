"""A joblib sweep's jobs share the sweep's W&B service (runner/sweeps/wandb_service.py)."""

import pytest

from tests.conftest import SMALL, run_cli

SHARED = "Connected to an existing wandb-core service via WANDB_SERVICE"  # W&B's own log line


@pytest.mark.slow
@pytest.mark.parametrize(("share", "shared"), [("true", True), ("false", False)])
def test_the_workers_use_the_sweep_s_service_unless_told_not_to(data_root, tmp_path, share, shared):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", "hydra/launcher=joblib", *SMALL, f"data.root={data_root}",
                     "model=logreg", "trainer.max_steps=2", "seed=0,1", "logger=wandb",
                     "logger.mode=offline", f"logger.share_service={share}",
                     f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    logs = [sweep_dir / job / "wandb" / "debug.log" for job in ("0", "1")]
    assert [SHARED in log.read_text() for log in logs] == [shared, shared]
    assert len(list(sweep_dir.glob("[01]/wandb/offline-run-*/run-*.wandb"))) == 2
