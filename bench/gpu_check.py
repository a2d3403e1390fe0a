"""``make gpu-check``: what to run the day a CUDA GPU is at hand, in one command.

On a machine with CUDA it runs, within an 8-minute budget that every step checks:

- the tests marked ``cuda``;
- training throughput of the STN, the VAE and the GAN (samples/s over the windows after the
  first), in float32, in bf16 and compiled, each also as a ratio to float32 in the same run;
- the main job's time to 99% test accuracy: the fewest ``trainer.epochs`` that reach it, and
  that run's wall time;
- a two-process run over nccl, when the machine has two GPUs;

and writes everything, with the machine, the versions and the commit, to
``docs/results/gpu_check.json``. Without CUDA it says so in one line and exits 0.

    python bench/gpu_check.py [--out FILE] [--budget-s SECONDS]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "results" / "gpu_check.json"
MODELS = ("stn", "vae", "gan")
VARIANTS = {"fp32": [], "bf16": ["trainer.precision=bf16"], "compile": ["trainer.compile=true"]}
STEPS = 400
TARGET_ACCURACY = 0.99


class Budget:
    """Seconds left of the check; a step that would start after they ran out is skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def runner(arguments: list[str], run_dir: Path, budget: Budget) -> dict | None:
    """``python -m runner`` on the GPU; its summary, or None when it failed or ran out of time."""
    command = [sys.executable, "-m", "runner", "device=cuda", "logger=none",
               f"hydra.run.dir={run_dir}", *arguments]  # fmt: skip
    try:
        subprocess.run(
            command, cwd=REPO, capture_output=True, timeout=max(1, budget.left()), check=True
        )
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
        return None
    return json.loads((run_dir / "summary.json").read_text())


def samples_per_s(run_dir: Path) -> float:
    """The median training throughput of a run's windows after its first (warm-up)."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    speeds = [r["perf/samples_per_s"] for r in map(json.loads, lines) if "perf/samples_per_s" in r]
    return statistics.median(speeds[1:] or speeds)


def throughput(scratch: Path, budget: Budget) -> dict:
    """samples/s of each model and variant, and each variant's ratio to float32."""
    results: dict = {}
    for model in MODELS:
        results[model] = {}
        for variant, extra in VARIANTS.items():
            run_dir = scratch / f"{model}-{variant}"
            arguments = [
                f"model={model}",
                f"trainer.max_steps={STEPS}",
                "trainer.log_every=25",
                *extra,
            ]
            ran = budget.left() > 30 and runner(arguments, run_dir, budget) is not None
            results[model][variant] = round(samples_per_s(run_dir)) if ran else None
        fp32 = results[model]["fp32"]
        for variant in ("bf16", "compile"):
            value = results[model][variant]
            results[model][f"{variant}_vs_fp32"] = (
                round(value / fp32, 2) if value and fp32 else None
            )
    return results


def time_to_accuracy(scratch: Path, budget: Budget) -> dict:
    """The main job's fewest epochs to 99% test accuracy, and that run's wall time."""
    for epochs in range(1, 6):
        summary = runner([f"trainer.epochs={epochs}"], scratch / f"main-{epochs}", budget)
        if summary is None:
            return {"reached": False, "why": "a run failed or the budget ran out", "epochs": epochs}
        accuracy = summary["metrics"]["test/acc"]
        if accuracy >= TARGET_ACCURACY:
            return {"reached": True, "epochs": epochs, "wall_time_s": round(summary["wall_time_s"], 1),
                    "test_acc": accuracy}  # fmt: skip
    return {"reached": False, "epochs": 5, "test_acc": accuracy}


def cuda_tests(budget: Budget) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:randomly", "-q", "tests/platform"],
        cwd=REPO, capture_output=True, text=True, timeout=max(1, budget.left()),
    )  # fmt: skip
    return {"exit_status": result.returncode, "summary": result.stdout.strip().splitlines()[-1]}


def machine(torch) -> dict:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "commit": commit,
        "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--budget-s", type=float, default=480.0)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine; nothing to check")
        return 0
    budget = Budget(args.budget_s)
    results: dict = {"machine": machine(torch), "command": "make gpu-check"}
    results["cuda_tests"] = cuda_tests(budget)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        results["samples_per_s"] = throughput(Path(scratch), budget)
        results["main_job_to_99_percent"] = time_to_accuracy(Path(scratch), budget)
        if torch.cuda.device_count() >= 2:
            two = runner(
                ["device.processes=2", "trainer.max_steps=200"], Path(scratch) / "nccl", budget
            )
            results["two_process_nccl"] = {
                "completed": two is not None and two["status"] == "completed"
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    print(f"gpu-check: written to {args.out}")
    return 0 if results["cuda_tests"]["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
