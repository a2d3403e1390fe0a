"""The CUDA path: skipped on machines without a GPU."""

import json
import subprocess
import sys

import pytest
import torch

from experiments.adam import Adam
from runner.platform.errors import ConfigError
from runner.train import run
from tests.conftest import REPO


def on_a_gpu(test):
    """Marked ``cuda`` (``make gpu-check`` runs these), and skipped without a CUDA GPU."""
    needs_a_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
    return pytest.mark.cuda(needs_a_gpu(test))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_gpu_check_says_in_one_line_that_there_is_no_gpu(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--out", str(tmp_path / "gpu_check.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "gpu-check: no CUDA GPU on this machine; nothing to check"
    ]
    assert not (tmp_path / "gpu_check.json").exists()


@on_a_gpu
def test_a_run_trains_on_the_gpu(make_config, tmp_path):
    run(make_config("device=cuda", "trainer.max_steps=20"), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["device"].startswith("cuda")
    checkpoint = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert "cuda" in checkpoint["rng"]


@pytest.mark.parametrize("foreach", [True, False])
@on_a_gpu
def test_adam_on_the_gpu_matches_torch(foreach):
    generator = torch.Generator(device="cuda").manual_seed(0)
    ours = [torch.randn(64, 32, device="cuda", generator=generator) for _ in range(3)]
    theirs = [p.clone() for p in ours]
    for p in ours + theirs:
        p.requires_grad_(True)
    optimizers = (Adam(ours, foreach=foreach), torch.optim.Adam(theirs, foreach=True))
    for _ in range(50):
        grads = [torch.randn(64, 32, device="cuda", generator=generator) for _ in range(3)]
        for params, optimizer in zip((ours, theirs), optimizers, strict=True):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["bf16", "16"])
@pytest.mark.parametrize("model", ["stn", "vae", "gan"])
@on_a_gpu
def test_mixed_precision_trains_on_the_gpu(make_config, tmp_path, precision, model):
    quick = ["model.parzen_samples=300", "model.parzen_val_images=100"] if model == "gan" else []
    cfg = make_config("device=cuda", f"model={model}", *quick, f"trainer.precision={precision}",
                      "trainer.max_steps=30", "trainer.grad_clip=1.0")  # fmt: skip
    run(cfg, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert all(value == value for value in summary["metrics"].values())  # no NaN
    checkpoint = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert bool(checkpoint["steps"]["scalers"]) == (precision == "16")


@on_a_gpu
def test_compile_trains_on_the_gpu(make_config, tmp_path):
    run(make_config("device=cuda", "trainer.compile=true", "trainer.max_steps=20"), tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["compile_s"] > 0


@on_a_gpu
def test_processes_take_a_gpu_each_through_nccl(make_config, tmp_path):
    gpus = torch.cuda.device_count()
    if gpus < 2:
        with pytest.raises(ConfigError, match=f"this machine has {gpus}"):
            run(make_config("device=cuda", "device.processes=2"), tmp_path / "refused")
        pytest.skip("two processes need two GPUs")
    run(make_config("device=cuda", "device.processes=2", "trainer.max_steps=20"), tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"
