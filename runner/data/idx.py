"""The IDX files of MNIST and FashionMNIST, checked before torchvision reads them.

torchvision trusts the files in ``raw/``: a damaged one ends in an assertion or a reshape
error deep inside it. The header says what the file must be (a magic number for its kind,
then its dimensions), so a file cut short, of another kind, or with labels that do not match
its images is named here instead, with what to do.
"""

import math
from pathlib import Path

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
        images = raw / f"{prefix}-images-idx3-ubyte"
        labels = raw / f"{prefix}-labels-idx1-ubyte"
        if not (images.is_file() and labels.is_file()):
            continue
        image_count = idx_dimensions(images, IMAGES_MAGIC)[0]
        label_count = idx_dimensions(labels, LABELS_MAGIC)[0]
        if image_count != label_count:
            raise DamagedFile(
                labels, f"has {label_count} labels for the {image_count} images of {images.name}",
                REMEDY,
            )  # fmt: skip
