"""The training loop on a tiny fake experiment: a few parameters, a few dozen made-up images.

Everything the loop promises is checked here in seconds: when records are logged, when
validation runs, where a run stops, divergence, the best checkpoint, and exact resume from
every step boundary.
"""

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from experiments.base import Batch, Experiment, mean_over_batches
from runner.data.loader import ImageSet, Loaders, TensorLoader
from runner.records.metrics import MetricsFile, read_metrics
from runner.records.run_log import RunLog
from runner.training.checkpoint import Checkpointer, read_checkpoint
from runner.training.loop import Training, TrainingPlan, fit
from runner.training.objective import Objective
from runner.training.state import TrainState
from runner.training.step import StepService

BATCH_SIZE = 8
BATCHES_PER_EPOCH = 5


class NoisyLine(Experiment):
    """A linear fit of the labels from 4 pixels, with input noise so that the random number
    generators matter, and the data order too."""

    training_metrics = ("loss",)
    evaluation_metrics = ("loss", "norm")

    def __init__(self, crash_at_step: int | None = None) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(4))
        self.crash_at_step = crash_at_step
        self.calls = 0

    def squared_errors(self, batch: Batch, noise: float = 0.0) -> Tensor:
        pixels = batch[0].flatten(1)
        pixels = pixels + noise * torch.randn_like(pixels)
        return (pixels @ self.weights - batch[1].float() / 3).square()

    def training_step(self, batch: Batch, optimizers: dict[str, Optimizer]) -> dict[str, Tensor]:
        self.calls += 1
        if self.calls == self.crash_at_step:
            raise RuntimeError(f"crashed at step {self.calls}")
        loss = self.squared_errors(batch, noise=0.1).mean()
        self.optimizer_step(loss, optimizers["model"])
        return {"loss": loss.detach()}

    def evaluate(self, batches, split: str) -> dict[str, float]:
        metrics = mean_over_batches(batches, lambda b: {"loss": self.squared_errors(b).sum()})
        return metrics | {"norm": self.weights.norm().item()}


def image_set(count: int, seed: int) -> ImageSet:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 1, 2, 2), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.randint(0, 3, (count,), generator=generator))


LOADERS = Loaders(
    train=TensorLoader(image_set(BATCH_SIZE * BATCHES_PER_EPOCH, 1), BATCH_SIZE, shuffle=True),
    val=TensorLoader(image_set(16, 2), 8, shuffle=False),
    test=TensorLoader(image_set(16, 3), 8, shuffle=False),
)


LOWEST_VAL_LOSS = Objective("val/loss", "min")


def plan(epochs: int = 2, max_steps: int | None = None, eval_every: int = 1, log_every: int = 2):
    return TrainingPlan(epochs, max_steps, eval_every, log_every, seed=0)


def train(
    run_dir: Path,
    training_plan: TrainingPlan,
    objective: Objective = LOWEST_VAL_LOSS,
    lr: float = 0.05,
    resume: bool = False,
    crash_at_step: int | None = None,
) -> tuple[NoisyLine, TrainState]:
    """Build the fake experiment and fit it: afresh, or (``resume``) from ``last.pt`` when the
    run wrote one, as ``resume=true`` does."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    experiment = NoisyLine(crash_at_step)
    optimizers = {"model": torch.optim.SGD(experiment.parameters(), lr=lr, momentum=0.9)}
    steps = StepService(optimizers)
    experiment.use_step_service(steps)
    checkpoints = Checkpointer(run_dir / "checkpoints", experiment, steps, config={})
    state = TrainState()
    if resume and checkpoints.last.exists():
        state = checkpoints.restore(read_checkpoint(checkpoints.last))
    metrics = MetricsFile(run_dir / "metrics.jsonl", keep_bytes=state.metrics_bytes)
    log = RunLog(run_dir, metrics, wandb=None, elapsed_before=state.wall_time_s)
    try:
        fit(Training(experiment, steps, LOADERS, training_plan, objective, checkpoints), log, state)
    finally:
        log.close(failed=False)
    return experiment, state


def records(run_dir: Path, prefix: str = "") -> list[dict]:
    """The logged records holding a key that starts with ``prefix``, without timings."""
    kept = []
    for record in read_metrics(run_dir / "metrics.jsonl"):
        record = {k: v for k, v in record.items() if not k.startswith("perf/")}
        if any(key.startswith(prefix) for key in record if key not in ("step", "epoch")):
            kept.append(record)
    return kept


def test_training_is_logged_every_log_every_steps_and_at_each_epoch_end(tmp_path):
    train(tmp_path, plan(epochs=2, log_every=2))
    logged = records(tmp_path, "train/")
    assert [r["step"] for r in logged] == [2, 4, 5, 6, 8, 10, 10]  # every 2 steps, epoch ends
    assert [r["step"] for r in logged if "train/epoch_loss" in r] == [5, 10]
    assert set(logged[-1]) == {"step", "epoch", "train/epoch_loss"}  # its window was empty
    first_epoch = logged[:3]  # windows of 2, 2 and 1 steps
    mean = (2 * first_epoch[0]["train/loss"] + 2 * first_epoch[1]["train/loss"]
            + first_epoch[2]["train/loss"]) / 5  # fmt: skip
    assert first_epoch[2]["train/epoch_loss"] == pytest.approx(mean, rel=1e-6)
    assert [r["epoch"] for r in logged] == [0, 0, 1, 1, 1, 1, 2]
    assert logged[3]["train/loss"] == records(tmp_path)[4]["train/loss"]  # step 6: one step


def test_validation_runs_every_eval_every_epochs_and_at_the_last_step(tmp_path):
    train(tmp_path, plan(epochs=5, eval_every=2))
    assert [r["step"] for r in records(tmp_path, "val/")] == [10, 20, 25]


def test_max_steps_stops_mid_epoch_with_the_position_saved(tmp_path):
    _, state = train(tmp_path, plan(epochs=100, max_steps=7))
    assert (state.step, state.epoch, state.batch) == (7, 1, 2)
    saved = read_checkpoint(tmp_path / "checkpoints/last.pt")["state"]
    assert (saved["step"], saved["epoch"], saved["batch"]) == (7, 1, 2)
    assert [r["step"] for r in records(tmp_path, "train/")] == [2, 4, 5, 6, 7]
    assert [r["step"] for r in records(tmp_path, "val/")] == [5, 7]


def test_divergence_stops_training_after_recording_the_value(tmp_path):
    with pytest.raises(FloatingPointError, match="training diverged: train/loss is (nan|inf)"):
        train(tmp_path, plan(epochs=50, log_every=1), lr=100.0)
    last = read_metrics(tmp_path / "metrics.jsonl")[-1]
    assert last["train/loss"] in ("nan", "inf")


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_best_checkpoint_holds_the_best_validation(tmp_path, mode):
    objective = Objective("val/loss", mode)
    experiment, _ = train(tmp_path, plan(epochs=4), objective=objective)
    validations = records(tmp_path, "val/")
    chosen = (min if mode == "min" else max)(validations, key=lambda r: r["val/loss"])
    best = torch.load(tmp_path / "checkpoints/best.pt", weights_only=True)
    assert (best["metric"], best["value"], best["step"]) == (
        "val/loss",
        chosen["val/loss"],
        chosen["step"],
    )
    if chosen["step"] == validations[-1]["step"]:
        assert torch.equal(best["experiment"]["weights"], experiment.weights.detach())


def test_a_crash_at_any_step_resumes_to_the_uninterrupted_records(tmp_path):
    """Checkpoints are written at epoch ends: a crash at step k loses the steps since the last
    one, and the resumed run redoes them exactly, logging what the uninterrupted run logged."""
    full = plan(epochs=3, log_every=3)
    whole, _ = train(tmp_path / "whole", full)
    expected = records(tmp_path / "whole")
    total = full.total_steps(BATCHES_PER_EPOCH)
    for crash in range(1, total + 1):
        run_dir = tmp_path / f"crashed-at-{crash}"
        with pytest.raises(RuntimeError, match=f"crashed at step {crash}"):
            train(run_dir, full, crash_at_step=crash)
        resumed, state = train(run_dir, full, resume=True)
        assert records(run_dir) == expected, f"crashed at step {crash}"
        assert torch.equal(resumed.weights, whole.weights), f"crashed at step {crash}"
        assert state.step == total


def test_a_run_stopped_by_max_steps_continues_to_the_same_weights(tmp_path):
    """A shorter schedule ends the run (a final window and validation are logged), and a longer
    one continues it from there to the weights of an uninterrupted run."""
    whole, _ = train(tmp_path / "whole", plan(epochs=2))
    for stop in range(1, 10):
        run_dir = tmp_path / f"stopped-at-{stop}"
        train(run_dir, plan(epochs=2, max_steps=stop))
        resumed, _ = train(run_dir, plan(epochs=2), resume=True)
        assert torch.equal(resumed.weights, whole.weights), f"stopped at step {stop}"
        validations = records(run_dir, "val/")
        assert validations[-1] == records(tmp_path / "whole", "val/")[-1]
