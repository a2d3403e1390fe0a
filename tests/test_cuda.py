"""The CUDA path: skipped on machines without a GPU."""

import json

import pytest
import torch

from experiments.adam import Adam
from runner.errors import ConfigError
from runner.train import run

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_a_run_trains_on_the_gpu(make_config, tmp_path):
    run(make_config("device=cuda", "trainer.max_steps=20"), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["device"].startswith("cuda")
    checkpoint = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert "cuda" in checkpoint["rng"]


@pytest.mark.parametrize("foreach", [True, False])
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


def test_compile_trains_on_the_gpu(make_config, tmp_path):
    run(make_config("device=cuda", "trainer.compile=true", "trainer.max_steps=20"), tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["compile_s"] > 0


def test_processes_take_a_gpu_each_through_nccl(make_config, tmp_path):
    gpus = torch.cuda.device_count()
    if gpus < 2:
        with pytest.raises(ConfigError, match=f"this machine has {gpus}"):
            run(make_config("device=cuda", "device.processes=2"), tmp_path / "refused")
        pytest.skip("two processes need two GPUs")
    run(make_config("device=cuda", "device.processes=2", "trainer.max_steps=20"), tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"
