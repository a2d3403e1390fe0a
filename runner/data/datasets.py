"""The datasets a run can train on, each returned as a training and a test :class:`ImageSet`.

``digits`` is generated here from a seed, so the default job needs no network; the
MNIST-format datasets are read from their IDX files under ``root`` (and downloaded there by
torchvision when allowed and online).
"""

import pickle
from pathlib import Path

import torch
from torch import Tensor

from runner.data.digits import IMAGE_SIZE, generate_digits
from runner.data.idx import SPLIT_PREFIXES, all_present, check_idx_files, read_split
from runner.data.loader import ImageSet
from runner.platform.console import console
from runner.platform.errors import ConfigError, first_line
from runner.platform.files import check_archive, save_atomically

DIGITS_FORMAT = 1
"""Bumped whenever the generator changes what it draws, so stale caches are not reused."""

TORCHVISION_DATASETS = ("MNIST", "FashionMNIST")


def digits(root: str, seed: int, train_size: int, test_size: int) -> tuple[ImageSet, ImageSet]:
    """Generated handwritten-style digits, cached under ``root/digits`` after the first run.

    The test set is drawn from a different seed than the training set, so no test image is
    a copy of a training image.
    """
    for name, value, minimum in (
        ("seed", seed, 0),
        ("train_size", train_size, 1),
        ("test_size", test_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"data.dataset.{name} must be an integer >= {minimum}; got {value!r}")
    cache = (
        Path(root) / "digits" / f"digits-v{DIGITS_FORMAT}-seed{seed}-{train_size}-{test_size}.pt"
    )
    tensors = read_once(cache, train_size, test_size) if cache.exists() else None
    if tensors is None:
        train_images, train_labels = generate_digits(train_size, seed=2 * seed)
        test_images, test_labels = generate_digits(test_size, seed=2 * seed + 1)
        tensors = {
            "train_images": train_images.unsqueeze(1),
            "train_labels": train_labels,
            "test_images": test_images.unsqueeze(1),
            "test_labels": test_labels,
        }
        try:
            save_atomically(tensors, cache)
        except OSError as error:
            raise ConfigError(
                f"data.root: cannot write the dataset cache {cache} ({error.strerror})"
            ) from None
    return (
        ImageSet(tensors["train_images"], tensors["train_labels"]),
        ImageSet(tensors["test_images"], tensors["test_labels"]),
    )


READ_THIS_PROCESS: dict[tuple[Path, int, int], dict[str, Tensor]] = {}
"""The digits caches this process has read, by path and modification time: the jobs of a
sweep in one process read the file once, a tenth of a second each."""


def read_once(path: Path, train_size: int, test_size: int) -> dict[str, Tensor] | None:
    """:func:`read_digits_cache`, once per process and version of the file; each caller gets
    tensors of its own, so no run can change another's images."""
    key = (path.resolve(), path.stat().st_mtime_ns, path.stat().st_size)
    if key not in READ_THIS_PROCESS:
        tensors = read_digits_cache(path, train_size, test_size)
        if tensors is None:
            return None
        READ_THIS_PROCESS.clear()  # one dataset kept at a time: a sweep reads one
        READ_THIS_PROCESS[key] = tensors
    return {name: tensor.clone() for name, tensor in READ_THIS_PROCESS[key].items()}


def read_digits_cache(path: Path, train_size: int, test_size: int) -> dict[str, Tensor] | None:
    """The cached digits in ``path``, or None (with a warning) when the file is damaged: the
    cache is derived from the seed, so it is drawn again rather than refused."""
    try:
        check_archive(path, remedy="")  # a flipped bit in the images loads without it
        tensors = torch.load(path, map_location="cpu", weights_only=True)
        sizes = {"train": train_size, "test": test_size}
        for split, size in sizes.items():
            images, labels = tensors[f"{split}_images"], tensors[f"{split}_labels"]
            if images.shape != (size, 1, IMAGE_SIZE, IMAGE_SIZE) or labels.shape != (size,):
                raise ValueError(f"{split} images of shape {tuple(images.shape)}")
            if images.dtype != torch.uint8 or labels.dtype != torch.int64:
                raise ValueError(f"{split} images of {images.dtype}, labels of {labels.dtype}")
    except Exception as error:  # whatever torch makes of the bytes, or tensors not as written
        console.print(
            f"warning: the dataset cache {path} is damaged ({first_line(error)}); drawing it again"
        )
        return None
    return tensors


def torchvision_images(name: str, root: str, download: bool) -> tuple[ImageSet, ImageSet]:
    """MNIST or FashionMNIST, read once into tensors: from their IDX files when all four
    are in ``root/<name>/raw``, else through torchvision, which downloads them when allowed.

    Offline and absent, the error says where the files go instead of a download traceback.
    """
    if name not in TORCHVISION_DATASETS:
        raise ConfigError(
            f"data.dataset.name must be one of {', '.join(TORCHVISION_DATASETS)}; got {name!r}"
        )
    raw = Path(root) / name / "raw"
    check_idx_files(raw)
    if all_present(raw):
        splits = [ImageSet(*read_split(raw, prefix)) for prefix in SPLIT_PREFIXES]
        return splits[0], splits[1]
    return downloaded(name, root, download)


def downloaded(name: str, root: str, download: bool) -> tuple[ImageSet, ImageSet]:
    """The dataset through torchvision, which fetches the missing files when ``download``."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, name)
    splits = []
    for train in (True, False):
        try:
            dataset = dataset_class(root, train=train, download=download)
        except (RuntimeError, OSError) as error:
            where = Path(root) / name / "raw"
            reason = (
                "data.dataset.download=false"
                if not download
                else str(error).splitlines()[0].rstrip(":")
            )
            raise ConfigError(
                f"data: {name} not found in {where} ({reason}); put the four IDX files "
                f"(train-images-idx3-ubyte, ...) there, or use data=digits"
            ) from None
        splits.append(ImageSet(dataset.data.unsqueeze(1).contiguous(), dataset.targets.long()))
    return splits[0], splits[1]


CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{n}" for n in range(1, 6))
CIFAR10_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def cifar10(root: str) -> tuple[ImageSet, ImageSet]:
    """CIFAR-10 from its python batches in ``root/cifar-10-batches-py`` (``data_batch_1`` to
    ``_5`` and ``test_batch``, as the archive at :data:`CIFAR10_SOURCE` unpacks): 50,000
    training and 10,000 test images, 3×32×32. Nothing is downloaded; a missing or damaged
    file is one line naming it."""
    folder = Path(root) / CIFAR10_FOLDER
    train = [read_cifar10_batch(folder / name) for name in CIFAR10_TRAIN]
    test = read_cifar10_batch(folder / "test_batch")
    return (
        ImageSet(
            torch.cat([images for images, _ in train]), torch.cat([labels for _, labels in train])
        ),
        ImageSet(*test),
    )


def read_cifar10_batch(path: Path) -> tuple[Tensor, Tensor]:
    """One batch file: a pickled dict of ``data`` (uint8 rows of 3072: the red, green and blue
    planes of a 32×32 image) and ``labels``."""
    if not path.is_file():
        raise ConfigError(
            f"data: CIFAR-10 file {path} not found; unpack {CIFAR10_SOURCE} into "
            f"{path.parent.parent} (data.root), or use data=digits"
        )
    try:
        with path.open("rb") as file:
            batch = ArraysOnly(file, encoding="bytes").load()
        data, labels = batch[b"data"], batch[b"labels"]
        images = torch.as_tensor(data, dtype=torch.uint8).reshape(-1, 3, 32, 32)
        labels = torch.as_tensor(labels, dtype=torch.long)
    except Exception as error:  # a file that is not a CIFAR-10 batch, however it breaks
        raise ConfigError(f"data: {path} is not a CIFAR-10 batch ({first_line(error)})") from None
    if len(images) != len(labels):
        raise ConfigError(f"data: {path} holds {len(images)} images but {len(labels)} labels")
    return images.contiguous(), labels


class ArraysOnly(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, numpy arrays) and refuses
    anything else, so a file that is not one cannot run code when it is read."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes, as pickle protocol 2 writes them
    }

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}")
        return super().find_class(module, name)
