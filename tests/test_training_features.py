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

from runner.metrics import read_metrics
from runner.train import run
from tests.conftest import REPO, SMALL, SMALL_DATA

TOGETHER = [
    "schedule=warmup_cosine", "schedule.warmup_steps=10", "trainer.accumulate=2",
    "trainer.grad_clip=1.0",
]  # fmt: skip
QUICK_GAN = [
    "model.parzen_samples=300",
    "model.parzen_val_images=100",
    "model.parzen_batch_size=150",
]


def without_timings(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


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
    assert summary(run_dir)["metrics"] == summary(tmp_path / "whole")["metrics"]
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
    halfway, last = records[1], records[-1]  # steps 20 and 40 of 40
    assert halfway["train/lr_generator"] == halfway["train/lr_discriminator"] == halfway["train/lr"]
    assert halfway["train/lr"] == pytest.approx(cfg.optim.lr / 2)
    assert last["train/lr"] == pytest.approx(0.0, abs=1e-12)


def test_early_stopping_ends_the_run_says_why_and_still_reports_the_objective(
    make_config, tmp_path
):
    cfg = make_config("optim=sgd", "optim.lr=1e-6", "trainer.epochs=20",
                      "trainer.early_stop.patience=2", "trainer.early_stop.min_delta=0.05")  # fmt: skip
    value = run(cfg, tmp_path)
    ended = summary(tmp_path)
    assert ended["stop_reason"] == "early_stop" and ended["steps"] == 3 * 31  # 1 best + 2 stale
    assert value == ended["objective"]["value"] == ended["metrics"]["val/acc"]
    assert "test/acc" in ended["metrics"]
    assert run(make_config("optim=sgd", "optim.lr=1e-6", "trainer.epochs=20", "trainer.early_stop.patience=2",
                           "trainer.early_stop.min_delta=0.05", "resume=true"), tmp_path) == value  # fmt: skip
    assert summary(tmp_path)["steps"] == 93


def test_a_run_without_early_stopping_ends_with_the_schedule(make_config, tmp_path):
    run(make_config("trainer.max_steps=5"), tmp_path)
    assert summary(tmp_path)["stop_reason"] == "end_of_schedule"


@pytest.mark.parametrize("model", ["stn", "vae", "gan"])
def test_bf16_trains_on_the_cpu_with_finite_metrics(make_config, tmp_path, model):
    extra = QUICK_GAN if model == "gan" else []
    run(
        make_config(f"model={model}", *extra, "trainer.precision=bf16", "trainer.max_steps=20"),
        tmp_path,
    )
    ended = summary(tmp_path)
    assert ended["status"] == "completed"
    assert all(math.isfinite(v) for v in ended["metrics"].values())


def test_compile_trains_and_reports_its_compilation_apart(cli, tmp_path):
    result = cli(tmp_path / "run", "model=logreg", "trainer.compile=true", "trainer.max_steps=40")
    assert result.returncode == 0, result.stderr
    ended = summary(tmp_path / "run")
    assert ended["compile_s"] > 0 and ended["metrics"]["val/acc"] > 0.3
    first = read_metrics(tmp_path / "run/metrics.jsonl")[0]
    assert first["perf/compile_s"] == ended["compile_s"] and "perf/samples_per_s" in first
    checkpoint = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)
    assert set(checkpoint["experiment"]) == {"linear.weight", "linear.bias"}  # names unchanged


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
    ended = summary(tmp_path / "run")
    assert ended["steps"] == 10 and not (tmp_path / "run/wandb").exists()


def test_debug_overfit_drives_the_loss_of_one_batch_down(cli, data_root, tmp_path):
    result = cli(tmp_path / "run", "debug=overfit", "optim=adam", *SMALL_DATA,
                 f"data.root={data_root}", "device=cpu", small=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    losses = [
        r["train/loss"] for r in read_metrics(tmp_path / "run/metrics.jsonl") if "train/loss" in r
    ]
    assert len(losses) == 200  # one-batch epochs: each of the preset's steps ends an epoch
    assert losses[-1] < 0.25 * losses[0]


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


def test_the_new_keys_sweep_like_any_other(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", "schedule=constant,cosine", "trainer.precision=32,bf16",
                 "trainer.max_steps=5", f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert len(summaries) == 4 and all(s["status"] == "completed" for s in summaries)
