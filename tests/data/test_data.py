"""The data path: datasets as tensors, seeded batch order, torchvision loaders on IDX files."""

import struct
from pathlib import Path

import pytest
import torch
import torchvision.datasets

from runner.data.datasets import digits, downloaded, torchvision_images
from runner.data.loader import ImageSet, TensorLoader
from runner.data.splits import make_splits
from runner.platform.errors import ConfigError


def image_set(count: int) -> ImageSet:
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 2, 2)
    return ImageSet(images.contiguous(), torch.arange(count))


def test_an_epoch_visits_every_sample_once_in_a_seeded_order():
    loader = TensorLoader(image_set(100), batch_size=10, shuffle=True, seed=3)
    seen = torch.cat([labels for _, labels in loader.batches(epoch=0)])
    assert sorted(seen.tolist()) == list(range(100))
    assert seen.tolist() != list(range(100))
    again = torch.cat([labels for _, labels in loader.batches(epoch=0)])
    next_epoch = torch.cat([labels for _, labels in loader.batches(epoch=1)])
    other_seed = TensorLoader(image_set(100), batch_size=10, shuffle=True, seed=4)
    assert torch.equal(seen, again)
    assert not torch.equal(seen, next_epoch)
    assert not torch.equal(seen, torch.cat([y for _, y in other_seed.batches(epoch=0)]))


def test_batches_resume_from_a_position_within_an_epoch():
    loader = TensorLoader(image_set(100), batch_size=8, shuffle=True, seed=0, drop_last=True)
    whole = [labels for _, labels in loader.batches(epoch=2)]
    rest = [labels for _, labels in loader.batches(epoch=2, start=5)]
    assert len(loader) == len(whole) == 12
    assert all(torch.equal(a, b) for a, b in zip(whole[5:], rest, strict=True))


def test_batches_are_floats_in_unit_range_matching_their_labels():
    loader = TensorLoader(image_set(10), batch_size=4, shuffle=False)
    images, labels = next(iter(loader))
    assert images.dtype == torch.float32 and images.shape == (4, 1, 2, 2)
    assert torch.allclose(images[:, 0, 0, 0] * 255, labels.float())
    assert [len(y) for _, y in loader] == [4, 4, 2]


def test_validation_is_held_out_from_the_end_of_the_training_set():
    splits = make_splits(image_set(50), image_set(10), val_size=8, device=torch.device("cpu"))
    assert len(splits.train) == 42 and len(splits.val) == 8 and len(splits.test) == 10
    assert splits.val.labels.tolist() == list(range(42, 50))
    with pytest.raises(ConfigError, match="data.val_size"):
        make_splits(image_set(50), image_set(10), val_size=50, device=torch.device("cpu"))


def test_digits_are_generated_once_then_read_from_the_cache(tmp_path):
    train, test = digits(str(tmp_path), seed=0, train_size=200, test_size=50)
    (cache,) = (tmp_path / "digits").glob("*.pt")
    assert train.images.shape == (200, 1, 28, 28) and test.images.shape == (50, 1, 28, 28)
    assert train.images.dtype == torch.uint8
    stamp = cache.stat().st_mtime_ns
    again, _ = digits(str(tmp_path), seed=0, train_size=200, test_size=50)
    assert cache.stat().st_mtime_ns == stamp
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    other, _ = digits(str(tmp_path), seed=1, train_size=200, test_size=50)
    assert not torch.equal(other.images, train.images)
    assert not any(torch.equal(image, test.images[0]) for image in train.images)


def write_idx(path: Path, array: torch.Tensor) -> None:
    """An IDX file as MNIST ships it: magic (unsigned bytes, rank), sizes, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.write_bytes(header + array.to(torch.uint8).contiguous().numpy().tobytes())


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_torchvision_datasets_read_idx_files(tmp_path, name):
    generator = torch.Generator().manual_seed(0)
    raw = tmp_path / name / "raw"
    data = {}
    for split, count in (("train", 30), ("t10k", 12)):
        images = torch.randint(0, 256, (count, 28, 28), generator=generator, dtype=torch.uint8)
        labels = torch.randint(0, 10, (count,), generator=generator, dtype=torch.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        data[split] = (images, labels)

    train, test = torchvision_images(name, str(tmp_path), download=False)
    assert torch.equal(train.images[:, 0], data["train"][0])
    assert torch.equal(train.labels, data["train"][1].long())
    assert torch.equal(test.images[:, 0], data["t10k"][0])
    assert test.labels.dtype == torch.int64

    # read without torchvision, exactly as torchvision's own loader reads the same files
    for split, ours in ((True, train), (False, test)):
        theirs = getattr(torchvision.datasets, name)(str(tmp_path), train=split, download=False)
        assert torch.equal(ours.images, theirs.data.unsqueeze(1))
        assert torch.equal(ours.labels, theirs.targets.long())
    via_torchvision, _ = downloaded(name, str(tmp_path), download=False)
    assert torch.equal(via_torchvision.images, train.images)


def test_a_missing_torchvision_dataset_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data=digits"):
        torchvision_images("MNIST", str(tmp_path), download=False)
