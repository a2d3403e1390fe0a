"""An experiment's image grids as PNG files, written with Pillow (which matplotlib brings)."""

import io
from pathlib import Path

import torch
from torch import Tensor

from runner.platform.files import write_bytes_atomically
from runner.platform.signals import interrupts_deferred


def png_bytes(picture: Tensor) -> bytes:
    """A picture ``[C, H, W]`` with values in [0, 1] (one channel: grey) as PNG bytes, each
    value rounded to the nearest of 256 levels, as ``torchvision.utils.save_image`` does."""
    with interrupts_deferred():
        from PIL import Image

    levels = picture.detach().float().cpu().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    if levels.size(0) == 1:
        levels = levels.expand(3, -1, -1)
    buffer = io.BytesIO()
    Image.fromarray(levels.permute(1, 2, 0).contiguous().numpy()).save(buffer, format="png")
    return buffer.getvalue()


def save_png(picture: Tensor, path: Path) -> Path:
    """``picture`` in ``path``, replacing any earlier version in one step."""
    write_bytes_atomically(png_bytes(picture), path)
    return path
