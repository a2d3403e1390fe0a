"""A Hydra task that does nothing, on the runner's own conf/: the floor a sweep's job costs.

It composes the same config tree through the same Hydra (the runner's resolvers registered,
its callbacks replaced by Hydra's base ``Callback``, which does nothing), and returns at once,
so a sweep of it measures what Hydra alone costs per job. Used by ``bench_sweep_scale.py``.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from runner.cli.hydra_setup import CONF_DIR, prepare_hydra  # noqa: E402 (after the path is set)

prepare_hydra()
RUNNER_CALLBACKS = ("sweep_values", "sweep_batches", "sweep_guard", "sweep_report")
NO_OP = "hydra.experimental.callback.Callback"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def task(cfg: DictConfig) -> float:
    return 0.0


if __name__ == "__main__":
    sys.argv += [f"hydra.callbacks.{name}._target_={NO_OP}" for name in RUNNER_CALLBACKS]
    task()
