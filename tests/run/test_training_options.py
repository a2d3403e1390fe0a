"""Precision, compile, schedules, clipping, accumulation, early stopping and the debug presets,
through the runner's Python API and its command line."""

import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from runner.records.metrics import read_metrics
from runner.train import run
from tests.conftest import REPO, SMALL, SMALL_DATA, read_summary, without_timings

TOGETHER = [
    "schedule=warmup_cosine", "schedule.warmup_steps=10", "trainer.accumulate=2",
    "trainer.grad_clip=1.0",
]  # fmt: skip
QUICK_GAN = [
    "model.parzen_samples=300",
    "model.parzen_val_images=100",
    "model.parzen_batch_size=150",
]


def test_a_killed_run_resumes_to_the_same_metrics_with_a_schedule_accumulation_and_clipping(
    make_config, data_root, tmp_path
):
    """31 batches an epoch and 2 batches a step: each epoch-end checkpoint holds a half-gathered
    gradient, the warm-up's place and the clip's effects; SIGKILL loses only what follows."""
    run(make_config(*TOGETHER, "trainer.epochs=3"), tmp_path / "whole")
    first = torch.load(tmp_path / "whole/checkpoints/last.pt", weights_only=True)
    assert first["steps"]["calls"]["model"] == 93 and first["steps"]["schedules"]["model"]

    run_dir = tmp_path / "killed"
    arguments = [
        *SMALL,
        f"data.root={data_root}",
        *TOGETHER,
        "trainer.epochs=3",
        f"hydra.run.dir={run_dir}",
    ]
    process = subprocess.Popen([sys.executable, "-m", "runner", *arguments], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints/last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    run(make_config(*TOGETHER, "trainer.epochs=3", "resume=true"), run_dir)
    assert read_summary(run_dir)["metrics"] == read_summary(tmp_path / "whole")["metrics"]
    assert without_timings(read_metrics(run_dir / "metrics.jsonl")) == without_timings(
        read_metrics(tmp_path / "whole/metrics.jsonl")
    )
    records = read_metrics(run_dir / "metrics.jsonl")
    assert {"train/lr", "train/grad_norm"} <= set(records[0])


def test_every_optimizer_follows_the_schedule_and_the_learning_rate_is_logged(
    make_config, tmp_path
):
    cfg = make_config("model=gan", *QUICK_GAN, "schedule=cosine", "trainer.max_steps=40")
    run(cfg, tmp_path)
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "train/lr" in r]
    halfway, last = records[1], records[-1]  # steps 20 and 40 of 40: the rates they used
    assert halfway["train/lr_generator"] == halfway["train/lr_discriminator"] == halfway["train/lr"]
    for record, steps_before in ((halfway, 19), (last, 39)):
        expected = cfg.optim.lr * (1 + math.cos(math.pi * steps_before / 40)) / 2
        assert record["train/lr"] == pytest.approx(expected)


def test_early_stopping_ends_the_run_says_why_and_still_reports_the_objective(
    make_config, tmp_path
):
    settings = ["optim=sgd", "optim.lr=1e-6", "trainer.epochs=20", "trainer.early_stop.patience=2",
                "trainer.early_stop.min_delta=0.05"]  # fmt: skip
    value = run(make_config(*settings), tmp_path)
    ended = read_summary(tmp_path)
    assert ended["stop_reason"] == "early_stop" and ended["steps"] == 3 * 31  # 1 best + 2 stale
    assert value == ended["objective"]["value"] == ended["metrics"]["val/acc"]
    assert "test/acc" in ended["metrics"]
    assert run(make_config(*settings, "resume=true"), tmp_path) == value  # completed: nothing to do
    # A crash after the stop but before the run closed: the checkpoint knows, and a resume
    # trains no further.
    assert torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)["state"]["stopped_early"]
    (tmp_path / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    run(make_config(*settings, "resume=true"), tmp_path)
    assert (
        read_summary(tmp_path)["steps"] == 93
        and read_summary(tmp_path)["stop_reason"] == "early_stop"
    )


def test_a_run_without_early_stopping_ends_with_the_schedule(make_config, tmp_path):
    run(make_config("trainer.max_steps=5"), tmp_path)
    assert read_summary(tmp_path)["stop_reason"] == "end_of_schedule"


@pytest.mark.parametrize("model", ["stn", "vae", "gan"])
def test_bf16_trains_on_the_cpu_with_finite_metrics(make_config, tmp_path, model):
    extra = QUICK_GAN if model == "gan" else []
    run(
        make_config(f"model={model}", *extra, "trainer.precision=bf16", "trainer.max_steps=20"),
        tmp_path,
    )
    ended = read_summary(tmp_path)
    assert ended["status"] == "completed"
    assert all(math.isfinite(v) for v in ended["metrics"].values())


@pytest.mark.slow  # compiles for seconds; torch.compile itself: test_adam's compiled AdaMax
def test_compile_trains_and_reports_its_compilation_apart(cli, tmp_path):
    result = cli(tmp_path / "run", "model=logreg", "trainer.compile=true", "trainer.max_steps=40")
    assert result.returncode == 0, result.stderr
    ended = read_summary(tmp_path / "run")
    assert ended["compile_s"] > 0 and ended["metrics"]["val/acc"] > 0.3
    first = read_metrics(tmp_path / "run/metrics.jsonl")[0]
    assert first["perf/compile_s"] == ended["compile_s"] and "perf/samples_per_s" in first
    checkpoint = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)
    assert set(checkpoint["experiment"]) == {"linear.weight", "linear.bias"}  # names unchanged


@pytest.mark.slow  # debug=fast through the Python API: test_debug_fast_takes_a_warmup_...
def test_debug_fast_checks_a_config_in_a_few_steps_without_wandb(cli, data_root, tmp_path):
    result = cli(
        tmp_path / "run",
        "debug=fast",
        "model=vae",
        "model.importance_samples=4",
        *SMALL_DATA,
        f"data.root={data_root}",
        small=False,
    )
    assert result.returncode == 0, result.stderr
    ended = read_summary(tmp_path / "run")
    assert ended["steps"] == 10 and not (tmp_path / "run/wandb").exists()


@pytest.mark.slow
def test_debug_overfit_drives_the_loss_of_one_batch_down(cli, data_root, tmp_path):
    result = cli(tmp_path / "run", "debug=overfit", "optim=adam", *SMALL_DATA,
                 f"data.root={data_root}", "device=cpu", small=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    losses = [
        r["train/loss"] for r in read_metrics(tmp_path / "run/metrics.jsonl") if "train/loss" in r
    ]
    assert len(losses) == 200  # one-batch epochs: each of the preset's steps ends an epoch
    assert losses[-1] < 0.25 * losses[0]


@pytest.mark.slow
def test_debug_profile_saves_a_trace_and_prints_the_top_operators(cli, data_root, tmp_path):
    result = cli(
        tmp_path / "run",
        "debug=profile",
        *SMALL_DATA,
        f"data.root={data_root}",
        "device=cpu",
        small=False,
    )
    assert result.returncode == 0, result.stderr
    assert "top operators" in result.stdout and "aten::" in result.stdout
    trace = json.loads((tmp_path / "run/profile/trace.json").read_text())
    assert trace["traceEvents"]
    assert "aten::" in (tmp_path / "run/profile/operators.txt").read_text()


@pytest.mark.slow  # a sweep of any keys runs in test_sweeps; this one of these keys in full
def test_the_new_keys_sweep_like_any_other(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", "schedule=constant,cosine", "trainer.precision=32,bf16",
                 "trainer.max_steps=5", f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert len(summaries) == 4 and all(s["status"] == "completed" for s in summaries)


def test_a_cosine_run_keeps_its_length_on_resume(make_config, tmp_path):
    from runner.platform.errors import ConfigError

    run(make_config("schedule=cosine", "trainer.max_steps=20"), tmp_path)
    with pytest.raises(ConfigError, match="schedule=cosine was laid over the run's 20 steps"):
        run(make_config("schedule=cosine", "trainer.max_steps=40", "resume=true"), tmp_path)
    run(make_config("schedule=step", "trainer.max_steps=20"), tmp_path / "step")
    run(make_config("schedule=step", "trainer.max_steps=40", "resume=true"), tmp_path / "step")
    assert read_summary(tmp_path / "step")["steps"] == 40  # a step schedule does not depend on it


def test_a_tiny_subset_keeps_the_datasets_number_of_classes(make_config, tmp_path):
    run(make_config("data.subset=10", "data.batch_size=5", "trainer.max_steps=2"), tmp_path)
    assert read_summary(tmp_path)["status"] == "completed"


def test_debug_fast_takes_a_warmup_longer_than_its_ten_steps(make_config, tmp_path):
    run(make_config("debug=fast", "schedule=warmup_cosine"), tmp_path)
    assert read_summary(tmp_path)["steps"] == 10
