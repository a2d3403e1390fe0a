"""The STN paper's models and distorted data: identity at the start, sizes, Table 1's sweep."""

import json
from pathlib import Path

import pytest
import torch

from experiments.stn import SpatialTransformer, STNClassifier
from runner.platform.errors import ConfigError
from runner.run.build import build, build_loaders_of
from runner.run.settings import settings_of
from runner.sweeps.report import CrossTable, JobOutcome
from tests.conftest import SMALL_DATA, compose_config


@pytest.mark.parametrize("size", [28, 42])
def test_the_transformer_starts_as_the_identity_and_returns_its_input(size):
    torch.manual_seed(0)
    images = torch.rand(4, 1, size, size)
    transformer = SpatialTransformer(in_channels=1, image_size=size)
    assert torch.allclose(transformer(images), images, atol=1e-5)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert torch.allclose(transformer.theta(images), identity.expand(4, 2, 3))


@pytest.mark.parametrize("size", [28, 42])
@pytest.mark.parametrize("classifier", ["cnn", "fcn"])
@pytest.mark.parametrize("use_stn", [True, False])
def test_shapes_flow_for_both_image_sizes(size, classifier, use_stn):
    model = STNClassifier(use_stn=use_stn, classifier=classifier, image_size=size).eval()
    images = torch.rand(5, 1, size, size)
    assert model(images).shape == (5, 10)
    assert model.transform(images).shape == images.shape
    figures = model.figures((images, torch.zeros(5, dtype=torch.long)))
    assert ("stn" in figures) == use_stn  # inputs beside the transformer's outputs


def test_the_baselines_are_the_same_classifier_without_the_transformer():
    with_stn = STNClassifier(use_stn=True, classifier="fcn")
    without = STNClassifier(use_stn=False, classifier="fcn")
    assert without.transformer is None
    assert [p.shape for p in with_stn.classifier.parameters()] == [
        p.shape for p in without.classifier.parameters()
    ]


def test_an_unknown_classifier_is_one_line_naming_the_setting():
    with pytest.raises(ConfigError, match="model.classifier must be one of cnn, fcn"):
        build(compose_config("model.classifier=rnn").model, "model")


def test_a_distortion_sets_the_image_size_the_model_is_built_for():
    rts = compose_config("data.distortion=rts")
    assert (rts.data.image_size, rts.model.image_size) == (42, 42)
    rotated = compose_config("data.distortion=rotated")
    assert (rotated.data.image_size, rotated.model.image_size) == (28, 28)
    with pytest.raises(ConfigError, match="data.distortion must be one of none, rotated, rts"):
        settings_of(compose_config("data.distortion=warped"))


def small_loaders(data_root: Path, *overrides: str, seed: int = 0):
    config = compose_config(*SMALL_DATA, f"data.root={data_root}", *overrides)
    return build_loaders_of(config.data, seed, torch.device("cpu"))


def first_batch(loader, epoch: int = 0) -> torch.Tensor:
    return next(iter(loader.batches(epoch)))[0]


def test_distorted_test_images_are_the_same_for_every_run_seed(data_root):
    plain = small_loaders(data_root)
    one = small_loaders(data_root, "data.distortion=rts", seed=0)
    other = small_loaders(data_root, "data.distortion=rts", seed=7)
    assert first_batch(one.test).shape[-2:] == (42, 42)
    assert torch.equal(first_batch(one.test), first_batch(other.test))
    assert torch.equal(first_batch(one.val), first_batch(other.val))
    assert not torch.equal(one.test.data.images, one.val.data.images[: len(one.test.data)])
    reseeded = small_loaders(data_root, "data.distortion=rts", "data.distortion_seed=1")
    assert not torch.equal(first_batch(one.test), first_batch(reseeded.test))
    assert torch.equal(one.test.data.labels, plain.test.data.labels)  # the same digits


def test_training_images_are_distorted_once_or_afresh_each_epoch(data_root):
    once = small_loaders(data_root, "data.distortion=rotated")
    assert torch.equal(once.train.images(0), once.train.images(1))

    fresh = small_loaders(data_root, "data.distortion=rotated", "data.resample_each_epoch=true")
    again = small_loaders(data_root, "data.distortion=rotated", "data.resample_each_epoch=true")
    assert not torch.equal(fresh.train.images(0), fresh.train.images(1))
    assert torch.equal(fresh.train.images(1), again.train.images(1))  # a resumed run's epoch
    assert torch.equal(fresh.test.data.images, once.test.data.images)
    assert first_batch(fresh.train, epoch=1).shape == (64, 1, 28, 28)


def outcome(number: int, distortion: str, use_stn: bool, classifier: str, acc: float | None):
    status = "completed" if acc is not None else "failed"
    metrics = {} if acc is None else {"test/acc": acc}
    settings = {"data.distortion": distortion, "model.use_stn": use_stn,
                "model.classifier": classifier}  # fmt: skip
    return JobOutcome(number, [], status, Path(str(number)), metrics=metrics, settings=settings)


def test_a_cross_table_lays_out_one_metric_by_settings():
    table = CrossTable(
        rows="data.distortion", columns=["model.use_stn", "model.classifier"],
        metric="test/acc", offset=100, scale=-100, labels={"true cnn": "ST-CNN"},
    )  # fmt: skip
    jobs = [
        outcome(0, "rts", False, "cnn", 0.95), outcome(1, "rts", True, "cnn", 0.99),
        outcome(2, "rotated", False, "cnn", 0.9), outcome(3, "rotated", True, "cnn", None),
    ]  # fmt: skip
    cells = table.cells(jobs)
    assert list(cells) == [("rts", "false cnn"), ("rts", "ST-CNN"),
                           ("rotated", "false cnn"), ("rotated", "ST-CNN")]  # fmt: skip
    assert cells["rts", "false cnn"] == pytest.approx(5.0)
    assert cells["rts", "ST-CNN"] == pytest.approx(1.0)
    assert cells["rotated", "ST-CNN"] is None  # the job failed


@pytest.mark.slow
def test_the_table1_experiment_sweeps_every_cell_and_reports_error_percent(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", "experiment=stn_table1", "trainer.max_steps=2",
                 f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["counts"] == {"completed": 16}
    cells = summary["table"]["cells"]
    assert list(dict.fromkeys(cell["row"] for cell in cells)) == [
        "rotated", "rts", "projective", "elastic"
    ]  # fmt: skip
    assert list(dict.fromkeys(cell["column"] for cell in cells)) == [
        "FCN",
        "CNN",
        "ST-FCN",
        "ST-CNN",
    ]
    accuracy = {
        (job["overrides"][0].partition("=")[2]): job["metrics"]["test/acc"]
        for job in summary["jobs"]
        if "model.use_stn=True" in job["overrides"] and "model.classifier=cnn" in job["overrides"]
    }
    for cell in cells:
        if cell["column"] == "ST-CNN":
            assert cell["value"] == pytest.approx(100 - 100 * accuracy[cell["row"]])
    assert "ST-CNN" in result.stdout and "Table 1" in result.stdout
    assert (sweep_dir / "3/figures/stn.png").exists()  # job 3: rotated, ST-CNN
