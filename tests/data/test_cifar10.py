"""CIFAR-10 (``data=cifar10``) read from python batch files the tests write in the archive's
format, the Adam paper's §6.3 network trained on it through the command line, and the
``adam_cnn`` sweep."""

import json
import pickle
from pathlib import Path

import numpy
import pytest
import torch

from runner.data.datasets import CIFAR10_SOURCE, CIFAR10_TRAIN, cifar10
from runner.platform.errors import ConfigError
from tests.conftest import run_cli

PER_BATCH = 40


def write_cifar10(root: Path, per_batch: int = PER_BATCH) -> dict[str, tuple]:
    """The six batch files, each image's pixels and label drawn from a seed: what was written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    rng = numpy.random.default_rng(0)
    for name in (*CIFAR10_TRAIN, "test_batch"):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=numpy.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, labels)
    return written


def test_the_batches_are_read_as_images_of_three_planes(tmp_path):
    written = write_cifar10(tmp_path)
    train, test = cifar10(str(tmp_path))
    assert train.images.shape == (5 * PER_BATCH, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (PER_BATCH, 3, 32, 32)
    data, labels = written["data_batch_2"]
    first_of_second = train.images[PER_BATCH]
    assert first_of_second[0].flatten().tolist() == data[0, :1024].tolist()  # red plane first
    assert first_of_second[2].flatten().tolist() == data[0, 2048:].tolist()  # then green, blue
    assert train.labels[PER_BATCH : 2 * PER_BATCH].tolist() == labels
    assert test.labels.tolist() == written["test_batch"][1]


def test_a_missing_batch_names_the_file_and_where_to_get_it(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ConfigError, match="data_batch_3 not found") as error:
        cifar10(str(tmp_path))
    assert CIFAR10_SOURCE in str(error.value)


def test_a_file_that_would_run_code_is_refused_unrun(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ConfigError, match="is not a CIFAR-10 batch"):
        cifar10(str(tmp_path))
    assert not marker.exists()


def test_the_papers_cnn_trains_on_it_from_the_command_line(tmp_path):
    write_cifar10(tmp_path / "data")
    run_dir = tmp_path / "run"
    result = run_cli("data=cifar10", "model=cnn", f"data.root={tmp_path / 'data'}",
                     "data.val_size=40", "data.batch_size=16", "trainer.max_steps=4",
                     "logger=none", f"hydra.run.dir={run_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 4
    assert 0 <= summary["metrics"]["test/acc"] <= 1


def test_without_the_files_a_run_is_one_line(tmp_path):
    result = run_cli("data=cifar10", "model=cnn", f"data.root={tmp_path}", "logger=none",
                     f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cifar-10-python.tar.gz" in result.stderr


@pytest.mark.slow
def test_the_adam_cnn_sweep_draws_figure_3(tmp_path):
    """Three optimizers, with and without dropout noise: six jobs and the paper's figure."""
    write_cifar10(tmp_path / "data")
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", "experiment=adam_cnn", f"data.root={tmp_path / 'data'}",
                     "data.val_size=40", "data.batch_size=32", "trainer.epochs=1",
                     "logger=none", f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["counts"] == {"completed": 6}
    assert (sweep_dir / "figures" / "adam_figure_3.png").stat().st_size > 0
