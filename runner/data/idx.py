"""The IDX files of MNIST and FashionMNIST: checked, and read into tensors.

torchvision trusts the files in ``raw/``: a damaged one ends in an assertion or a reshape
error deep inside it. The header says what the file must be (a magic number for its kind,
then its dimensions), so a file cut short, of another kind, or with labels that do not match
its images is named here instead, with what to do.

Files that are all there are read here, as torchvision's MNIST reads them (the same bytes,
the same shapes), without importing torchvision: its datasets package loads
``torchvision.models`` too, about a second of a short run's start. torchvision is imported
only to download files that are missing.
"""

import math
from pathlib import Path

import torch
from torch import Tensor

from runner.platform.errors import DamagedFile

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: count, rows, columns
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: count
SPLIT_PREFIXES = ("train", "t10k")  # of the training and the test split's files
REMEDY = (
    "replace it with the original file (or delete it, and data.dataset.download=true fetches it)"
)


def idx_dimensions(path: Path, magic: int) -> tuple[int, ...]:
    """The dimensions in ``path``'s header; :class:`DamagedFile` unless it is an IDX file of
    kind ``magic`` holding exactly the bytes its header counts."""
    with path.open("rb") as file:
        header = file.read(4)
        found = int.from_bytes(header, "big") if len(header) == 4 else None
        if found != magic:
            kind = "image" if magic == IMAGES_MAGIC else "label"
            shown = "none" if found is None else f"0x{found:08x}"
            raise DamagedFile(
                path, f"is not an IDX {kind} file (magic number {shown}, expected 0x{magic:08x})",
                REMEDY,
            )  # fmt: skip
        count = magic & 0xFF
        dimensions = file.read(4 * count)
        length = file.seek(0, 2)
    if len(dimensions) < 4 * count:
        raise DamagedFile(path, "is cut short inside its header", REMEDY)
    sizes = tuple(int.from_bytes(dimensions[4 * i : 4 * i + 4], "big") for i in range(count))
    data_bytes = math.prod(sizes)
    if length != 4 + 4 * count + data_bytes:
        raise DamagedFile(
            path, f"has {length} bytes; its header ({' x '.join(map(str, sizes))}) says "
            f"{4 + 4 * count + data_bytes}", REMEDY,
        )  # fmt: skip
    return sizes


def check_idx_files(raw: Path) -> None:
    """Check the image and label files of each split in ``raw`` that are there (a missing one
    is torchvision's to report, or to download)."""
    for prefix in SPLIT_PREFIXES:
        images, labels = split_files(raw, prefix)
        if not (images.is_file() and labels.is_file()):
            continue
        image_count = idx_dimensions(images, IMAGES_MAGIC)[0]
        label_count = idx_dimensions(labels, LABELS_MAGIC)[0]
        if image_count != label_count:
            raise DamagedFile(
                labels, f"has {label_count} labels for the {image_count} images of {images.name}",
                REMEDY,
            )  # fmt: skip


def split_files(raw: Path, prefix: str) -> tuple[Path, Path]:
    """The image and label files of the split ``prefix`` (``train`` or ``t10k``) in ``raw``."""
    return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"


def all_present(raw: Path) -> bool:
    """Whether ``raw`` holds the four files of both splits."""
    return all(path.is_file() for prefix in SPLIT_PREFIXES for path in split_files(raw, prefix))


def read_idx(path: Path, magic: int) -> Tensor:
    """The unsigned bytes of a checked IDX file, shaped as its header says."""
    sizes = idx_dimensions(path, magic)
    offset = 4 + 4 * len(sizes)
    data = bytearray(path.read_bytes()[offset:])
    return torch.frombuffer(data, dtype=torch.uint8).reshape(sizes)


def read_split(raw: Path, prefix: str) -> tuple[Tensor, Tensor]:
    """The images (uint8 ``[N, 1, H, W]``) and labels (int64 ``[N]``) of a split whose
    files :func:`check_idx_files` has checked."""
    images, labels = split_files(raw, prefix)
    return read_idx(images, IMAGES_MAGIC).unsqueeze(1), read_idx(labels, LABELS_MAGIC).long()
