"""The distortions' names and what each does to an image's size, without torch: the config
resolves ``data.image_size`` (and the command line answers ``--help``) before torch loads."""

DISTORTIONS: tuple[str, ...] = ("none", "rotated", "rts", "projective", "elastic")
RTS_CANVAS_FACTOR = 1.5  # canvas side / image side: the paper's 42x42 canvas for 28x28 digits


def check_kind(kind: str) -> None:
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}; choose one of: {', '.join(DISTORTIONS)}")


def output_size(kind: str, image_size: int) -> int:
    """Side of the images ``distort(images, kind, ...)`` returns for ``image_size`` inputs."""
    check_kind(kind)
    if kind == "rts":
        return round(image_size * RTS_CANVAS_FACTOR)
    return image_size


def distorted_size(kind: str, image_size: int) -> int:
    """``${distorted_size:${data.distortion},28}`` in ``conf/data/``: the side of the images
    a model receives, so ``data.distortion=rts`` gives 42×42 models without other edits."""
    return output_size(kind, image_size) if kind in DISTORTIONS else image_size
