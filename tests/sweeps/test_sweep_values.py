"""A sweep's values, every one checked before its first job: lists, ranges, grids, Optuna
spaces; a bad one fails the whole sweep in one line, and no job directory is made."""

import pytest

from runner.sweeps.values import jobs, swept_keys, with_value
from tests.conftest import SMALL, run_cli


@pytest.mark.parametrize(
    ("swept", "said"),
    [
        (["optim.lr=0.1,0.01,abc"],
         "optim.lr=abc (value 3 of 3 of optim.lr=0.1,0.01,abc): optim.lr must be a number > 0"),
        (["trainer.precision=32,bf16,64"],
         "trainer.precision=64 (value 3 of 3 of trainer.precision=32,bf16,64): trainer.precision must be one of"),
        (["trainer.log_every=range(3,-2,-1)"],
         "trainer.log_every=0 (value 4 of 5 of trainer.log_every=range(3,-2,-1))"),
        (["seed=range(0,1000)", "trainer.eval_every=choice(1,0)"],
         "trainer.eval_every=0 (value 2 of 2 of trainer.eval_every=choice(1,0))"),
        (["model=logreg,vae", "trainer.precision=32,16"],
         "trainer.precision=16 (value 2 of 2 of trainer.precision=32,16): trainer.precision=16 needs a CUDA GPU"),
        (["data.batch_size=64,31", "device.processes=1,2"],
         "job 3 (data.batch_size=31 device.processes=2): data.batch_size=31 does not split"),
        (["hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "optim.lr=tag(log, interval(0, 0.1))"],
         "optim.lr=0.0 (value 1 of 2 of optim.lr=tag(log, interval(0, 0.1))): optim.lr must be a number > 0"),
        (["trainer.compile=false,maybe"],
         "trainer.compile=maybe (value 2 of 2 of trainer.compile=false,maybe): trainer.compile must be true or false; got 'maybe'"),
        (["seed=0,1", "trainer.early_stop.patience=2,soon"],
         "trainer.early_stop.patience=soon (value 2 of 2 of trainer.early_stop.patience=2,soon): trainer.early_stop.patience must be an integer or null"),
        (["search=logreg", "trainer.precision=choice(32,64)"],
         "trainer.precision=64 (value 2 of 2 of trainer.precision=choice(32,64))"),
    ],
)  # fmt: skip
def test_a_bad_value_anywhere_in_a_sweep_fails_it_before_any_job(data_root, tmp_path, swept, said):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", *SMALL, "device=cpu", f"data.root={data_root}", *swept,
                     f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {said}"), result.stderr
    assert result.stderr.count("\n") == 1 and "no job was run" in result.stderr
    assert not sweep_dir.exists()


@pytest.mark.slow
def test_a_sweep_whose_values_are_all_good_runs(data_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", *SMALL, "device=cpu", f"data.root={data_root}", "trainer.max_steps=1",
                     "seed=range(0,2)", "trainer.precision=32,bf16",
                     f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in sweep_dir.glob("[0-9]*")) == ["0", "1", "2", "3"]


def test_the_jobs_are_numbered_as_hydra_launches_them():
    keys = swept_keys(["model=a,b", "optim.lr=1,2", "seed=range(0,2)"], {"model"}, {})
    listed = [(n, options, values) for n, options, values in jobs(keys[:1], keys[1:])]
    assert listed[:3] == [(0, ("model=a",), (1, 0)), (1, ("model=a",), (1, 1)),
                          (2, ("model=a",), (2, 0))]  # fmt: skip
    assert len(listed) == 8 and listed[-1] == (7, ("model=b",), (2, 1))


def test_a_value_is_set_on_a_copy_of_its_section_only():
    config = {"trainer": {"epochs": 1, "early_stop": {"patience": None}}, "data": {"root": "d"}}
    changed = with_value(config, "trainer.early_stop.patience", 3)
    assert changed["trainer"]["early_stop"]["patience"] == 3
    assert config["trainer"]["early_stop"]["patience"] is None  # the original is untouched
    assert changed["data"] is config["data"]  # what did not change is shared, not copied
    assert with_value(config, "data.root.deeper", 1) is None  # not a section of settings
