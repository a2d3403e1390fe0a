"""Training through the Python API: reproducibility, crashes, and resuming."""

import json

import pytest
import torch

from runner.platform.errors import ConfigError
from runner.records.metrics import read_metrics
from runner.train import run
from tests.conftest import without_timings
from tests.wandb_records import read_finished_run

CRASH = ["model._target_=tests.crashing.CrashingSTN", "+model.crash_at_step=45"]


def test_same_seed_same_metrics_and_zero_is_a_seed(make_config, tmp_path):
    first = run(make_config("seed=0", "trainer.max_steps=20"), tmp_path / "a")
    second = run(make_config("seed=0", "trainer.max_steps=20"), tmp_path / "b")
    other = run(make_config("seed=1", "trainer.max_steps=20"), tmp_path / "c")
    records = [without_timings(read_metrics(tmp_path / d / "metrics.jsonl")) for d in "abc"]
    assert records[0] == records[1]
    assert first == second
    assert records[0] != records[2] and first != other


def test_the_objective_is_returned_and_configurable(make_config, tmp_path):
    value = run(
        make_config("trainer.max_steps=10", "objective.metric=val/loss", "objective.mode=min"),
        tmp_path,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert value == summary["metrics"]["val/loss"] == summary["objective"]["value"]
    best = torch.load(tmp_path / "checkpoints/best.pt", weights_only=True)
    assert best["metric"] == "val/loss" and best["value"] == value


def test_a_crash_is_recorded_as_failed_and_resume_matches_an_uninterrupted_run(
    make_config, tmp_path
):
    uninterrupted = run(make_config(), tmp_path / "whole")

    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="crashed at step 45"):
        run(make_config(*CRASH, "logger=wandb", "logger.mode=offline"), crashed)
    summary = json.loads((crashed / "summary.json").read_text())
    assert summary["status"] == "failed" and "crashed at step 45" in summary["error"]
    assert read_finished_run(crashed).exit_code == 1  # the W&B run is marked failed
    assert torch.load(crashed / "checkpoints/last.pt", weights_only=True)["state"]["epoch"] == 1

    resumed = run(make_config(*CRASH, "resume=true"), crashed)  # 45 more steps: no second crash
    assert resumed == uninterrupted
    whole = json.loads((tmp_path / "whole/summary.json").read_text())
    after = json.loads((crashed / "summary.json").read_text())
    assert after["status"] == "completed"
    assert after["metrics"] == whole["metrics"], (after["metrics"], whole["metrics"])
    assert without_timings(read_metrics(crashed / "metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )
    # The paper's Adam (optim=adam) resumes its moments and step counts exactly.
    whole_state = torch.load(tmp_path / "whole/checkpoints/last.pt", weights_only=True)
    resumed_state = torch.load(crashed / "checkpoints/last.pt", weights_only=True)
    for name, weights in whole_state["experiment"].items():
        assert torch.equal(weights, resumed_state["experiment"][name]), name
    assert (
        whole_state["optimizers"]["model"]["state"][0]["step"]
        == resumed_state["optimizers"]["model"]["state"][0]["step"]
    )


def test_resume_continues_a_run_stopped_mid_epoch_to_a_longer_schedule(make_config, tmp_path):
    whole = run(make_config(), tmp_path / "whole")
    run(
        make_config("trainer.max_steps=40"), tmp_path / "split"
    )  # 31 batches an epoch: stops mid-epoch
    checkpoint = torch.load(tmp_path / "split/checkpoints/last.pt", weights_only=True)
    position = {key: checkpoint["state"][key] for key in ("step", "epoch", "batch")}
    assert position == {"step": 40, "epoch": 1, "batch": 9}
    assert run(make_config("resume=true"), tmp_path / "split") == whole
    split = json.loads((tmp_path / "split/summary.json").read_text())
    assert split["metrics"] == json.loads((tmp_path / "whole/summary.json").read_text())["metrics"]


def test_resume_removes_the_writes_a_killed_run_left_unfinished(make_config, tmp_path, capsys):
    """A process killed between a temporary file and its rename leaves the temporary file:
    in the run directory, its checkpoints or its figures. Resuming removes them all."""
    run(make_config("trainer.max_steps=5"), tmp_path)
    left = [tmp_path / ".summary.json.a1.tmp", tmp_path / "checkpoints/.last.pt.b2.tmp",
            tmp_path / "figures/.stn.png.c3.tmp"]  # fmt: skip
    for path in left:
        path.write_bytes(b"half")
    run(make_config("trainer.max_steps=10", "resume=true"), tmp_path)
    assert not any(path.exists() for path in left)
    assert capsys.readouterr().out.count("left by a write that did not finish") == 3


def test_resume_without_a_checkpoint_starts_afresh(make_config, tmp_path):
    assert run(make_config("resume=true", "trainer.max_steps=5"), tmp_path) > 0
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 5


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("data.batch_size=128", ("data.batch_size", "64", "128")),
        ("optim=sgd", ("optim._target_",)),
        ("model.use_stn=false", ("model.use_stn",)),
        ("trainer.accumulate=2", ("trainer.accumulate", "except trainer.accumulate")),
        ("schedule=cosine", ("schedule._target_",)),
        ("trainer.max_steps=10", ("already taken 20 steps", "10")),
    ],
)
def test_resume_refuses_a_run_that_is_not_the_one_it_continues(
    make_config, tmp_path, change, words
):
    run(make_config("trainer.max_steps=20"), tmp_path)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError) as error:
        run(make_config("resume=true", change), tmp_path)
    assert all(word in str(error.value) for word in words), str(error.value)
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_resume_may_change_the_schedule_logging_and_device(make_config, tmp_path):
    run(make_config("trainer.max_steps=20"), tmp_path)
    run(
        make_config("resume=true", "trainer.max_steps=30", "trainer.log_every=7", "device=cpu"),
        tmp_path,
    )
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 30


def test_divergence_fails_the_run_and_the_summary_stays_strict_json(make_config, tmp_path):
    with pytest.raises(FloatingPointError, match="diverged: train/loss is nan"):
        run(make_config("optim=sgd", "optim.lr=1e10", "trainer.log_every=5"), tmp_path)
    text = (tmp_path / "summary.json").read_text()
    summary = json.loads(
        text, parse_constant=lambda name: pytest.fail(f"bare {name} in summary.json")
    )
    assert summary["status"] == "failed" and summary["metrics"]["train/loss"] == "nan"


def test_best_checkpoint_follows_a_training_objective(make_config, tmp_path):
    run(make_config("objective.metric=train/epoch_loss", "objective.mode=min"), tmp_path)
    best = torch.load(tmp_path / "checkpoints/best.pt", weights_only=True)
    records = read_metrics(tmp_path / "metrics.jsonl")
    epoch_losses = [r["train/epoch_loss"] for r in records if "train/epoch_loss" in r]
    assert len(epoch_losses) == 2  # one per epoch
    assert best["metric"] == "train/epoch_loss" and best["value"] == min(epoch_losses)


def test_a_checkpoint_of_another_format_is_refused_in_one_line(make_config, tmp_path):
    run(make_config("trainer.max_steps=5"), tmp_path)
    last = tmp_path / "checkpoints/last.pt"
    checkpoint = torch.load(last, weights_only=True)
    torch.save({**checkpoint, "format": 1}, last)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(
        ConfigError, match="has checkpoint format 1, and this runner reads format 2"
    ):
        run(make_config("trainer.max_steps=10", "resume=true"), tmp_path)
    torch.save({"weights": torch.zeros(1)}, last)
    with pytest.raises(ConfigError, match="has no known format"):
        run(make_config("trainer.max_steps=10", "resume=true"), tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text() == before
