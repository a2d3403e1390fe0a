"""Tests of the STN paper's distorted digits (runner.data.distortions)."""

import pytest
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from runner.data.digits import generate_digits
from runner.data.distortions import (
    DISTORTIONS,
    corner_area_ratios,
    distort,
    elastic,
    output_size,
    project,
    projective_homographies,
    rotate,
    rotate_scale_place,
    rotate_scale_translate,
    rts_offset_bounds,
    to_float,
    to_uint8,
    warp_homography,
)

COUNT = 48
SIZE = 28


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """uint8 [COUNT, 1, 28, 28] generated digits."""
    return generate_digits(COUNT, seed=0)[0][:, None]


def ink(images: torch.Tensor) -> torch.Tensor:
    return images.to(torch.float64).sum(dim=(1, 2, 3))


def centroids(images: torch.Tensor) -> torch.Tensor:
    """Ink centroids [N, 2] (x, y) in pixels."""
    weights = images.to(torch.float64).sum(dim=1)  # [N, H, W]
    index = torch.arange(images.shape[-1], dtype=torch.float64)
    total = weights.sum(dim=(1, 2))
    x = (weights.sum(dim=1) * index).sum(dim=1) / total
    y = (weights.sum(dim=2) * index).sum(dim=1) / total
    return torch.stack([x, y], dim=1)


def border_ink(images: torch.Tensor) -> int:
    rows = images[..., [0, -1], :].sum()
    columns = images[..., :, [0, -1]].sum()
    return int(rows + columns)


# --- Output size and argument checks ----------------------------------------------------------


def test_output_size() -> None:
    assert output_size("rts", 28) == 42
    assert output_size("rts", 20) == 30
    for kind in ("none", "rotated", "projective", "elastic"):
        assert output_size(kind, 28) == 28


def test_unknown_kind_names_the_allowed_ones(digits: torch.Tensor) -> None:
    for call in (lambda: distort(digits, "sheared", seed=0), lambda: output_size("sheared", 28)):
        with pytest.raises(ValueError) as error:
            call()
        assert all(kind in str(error.value) for kind in DISTORTIONS)


def test_bad_images_are_rejected(digits: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="uint8"):
        distort(to_float(digits), "rotated", seed=0)
    with pytest.raises(ValueError, match="shape"):
        distort(digits[..., :20], "rotated", seed=0)
    with pytest.raises(ValueError, match="chunk_size"):
        distort(digits, "rotated", seed=0, chunk_size=0)


# --- Rotation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [-90.0, -37.5, 0.0, 20.0, 45.0, 90.0])
def test_rotate_matches_torchvision(digits: torch.Tensor, angle: float) -> None:
    images = to_float(digits)
    ours = rotate(images, torch.full((COUNT,), angle))
    theirs = tvf.rotate(images, angle, interpolation=InterpolationMode.BILINEAR)
    torch.testing.assert_close(ours[..., 3:-3, 3:-3], theirs[..., 3:-3, 3:-3], atol=1e-4, rtol=0)


def test_positive_angles_turn_counter_clockwise() -> None:
    bar = torch.zeros(1, 1, SIZE, SIZE)
    bar[..., 13:15, 16:26] = 1.0  # a bar to the right of the centre
    turned = rotate(bar, torch.tensor([90.0]))
    x, y = centroids(turned)[0].tolist()
    assert abs(x - 13.5) < 0.5  # on the vertical through the centre...
    assert y < 13.5 - 5  # ...and above it


def test_identity_parameters_return_the_input(digits: torch.Tensor) -> None:
    images = to_float(digits)
    zeros, ones = torch.zeros(COUNT), torch.ones(COUNT)
    warped = [
        rotate(images, zeros),
        rotate_scale_translate(images, zeros, ones, torch.zeros(COUNT, 2), SIZE),
        project(images, ones, torch.zeros(COUNT, 4, 2)),
        elastic(images, ones, torch.zeros(COUNT, 4, 4, 2)),
    ]
    for result in warped:
        assert torch.equal(to_uint8(result), digits)


# --- RTS --------------------------------------------------------------------------------------


def test_rts_places_whole_digits_at_varied_positions(digits: torch.Tensor) -> None:
    result = distort(digits, "rts", seed=0)
    assert result.shape == (COUNT, 1, 42, 42)
    assert border_ink(result) == 0
    ratio = ink(result) / ink(digits)
    assert ratio.min() > 0.7**2 * 0.85 and ratio.max() < 1.2**2 * 1.15
    assert (centroids(result).std(dim=0) > 2.0).all()


@pytest.mark.parametrize("position", [0.0, 1.0])
def test_rts_extreme_positions_keep_the_digit_inside(digits: torch.Tensor, position: float) -> None:
    angles = torch.where(torch.arange(COUNT) % 2 == 0, 45.0, -45.0)
    scales = torch.full((COUNT,), 1.2)
    positions = torch.full((COUNT, 2), position)
    result = to_uint8(rotate_scale_place(to_float(digits), angles, scales, positions, 42))
    assert border_ink(result) == 0
    # The digit reaches to within a few pixels of the sides it was pushed to.
    columns = result.sum(dim=(1, 2)) > 0  # [N, 42]
    rows = result.sum(dim=(1, 3)) > 0
    if position == 0.0:
        assert (columns[:, :4].any(dim=1) & rows[:, :4].any(dim=1)).all()
    else:
        assert (columns[:, -4:].any(dim=1) & rows[:, -4:].any(dim=1)).all()


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.2])
def test_rts_ink_follows_the_scale_squared(digits: torch.Tensor, scale: float) -> None:
    angles, scales = torch.full((COUNT,), 30.0), torch.full((COUNT,), scale)
    result = rotate_scale_translate(to_float(digits), angles, scales, torch.zeros(COUNT, 2), 42)
    ratio = ink(to_uint8(result)) / ink(digits)
    assert (ratio / scale**2 - 1).abs().max() < 0.1


def test_rts_digit_too_large_for_the_canvas_is_centred() -> None:
    full = torch.ones(2, 1, SIZE, SIZE)
    angles, scales = torch.tensor([45.0, 0.0]), torch.tensor([1.2, 1.2])
    low, high = rts_offset_bounds(full, angles, scales, 30)
    assert torch.equal(low, high)
    torch.testing.assert_close(low, torch.zeros(2, 2))


def test_rts_blank_image_stays_blank(digits: torch.Tensor) -> None:
    images = torch.cat([digits[:2], torch.zeros_like(digits[:1])])
    result = distort(images, "rts", seed=0)
    assert result[2].sum() == 0 and (result[:2].flatten(1).sum(dim=1) > 0).all()


# --- Projective and elastic -------------------------------------------------------------------


def test_homographies_map_the_moved_corners_to_the_image_corners() -> None:
    generator = torch.Generator().manual_seed(0)
    scales = 0.75 + 0.25 * torch.rand(8, generator=generator)
    shifts = 3.0 * torch.randn(8, 4, 2, generator=generator)
    matrices = projective_homographies(scales, shifts, SIZE)
    square = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    moved = scales.double()[:, None, None] * square + shifts.double() * 2 / SIZE
    points = torch.cat([moved, torch.ones(8, 4, 1, dtype=torch.float64)], dim=2)
    mapped = points @ matrices.transpose(1, 2)
    torch.testing.assert_close(mapped[..., :2] / mapped[..., 2:], square.expand(8, 4, 2))


def test_projective_with_equal_corner_shifts_translates(digits: torch.Tensor) -> None:
    shifts = torch.tensor([2.0, -1.0]).expand(COUNT, 4, 2)  # 2 px right, 1 px up
    result = to_uint8(project(to_float(digits), torch.ones(COUNT), shifts)).int()
    difference = result[..., :-1, 2:] - digits[..., 1:, :-2].int()
    assert difference.abs().max() <= 1


def test_elastic_with_equal_control_shifts_translates(digits: torch.Tensor) -> None:
    shifts = torch.tensor([3.0, 0.0]).expand(COUNT, 4, 4, 2)  # sample 3 px to the right
    result = to_uint8(elastic(to_float(digits), torch.ones(COUNT), shifts)).int()
    difference = result[..., :, :-3] - digits[..., :, 3:].int()
    assert difference.abs().max() <= 1


def test_points_beyond_the_vanishing_line_sample_nothing() -> None:
    # w = 1 - 3 y: the rows below y = 1/3 (grid units) are beyond infinity, and without care
    # would sample a mirrored copy of the image's top.
    matrix = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -3.0, 1.0]]])
    result = warp_homography(torch.ones(1, 1, SIZE, SIZE), matrix)
    row_centres = (2 * torch.arange(SIZE) + 1) / SIZE - 1
    assert result[0, 0, row_centres > 1 / 3].sum() == 0
    assert result[0, 0, SIZE // 2, SIZE // 2] == 1


def test_corner_area_ratios() -> None:
    scales = torch.tensor([1.0, 0.8, 1.0])
    shifts = torch.zeros(3, 4, 2)
    shifts[2, 0] = torch.tensor([1.5, 1.5])  # the top left corner past the other diagonal
    ratios = corner_area_ratios(scales, shifts)
    torch.testing.assert_close(ratios[:2], torch.ones(2))
    assert ratios[2] < 0


@pytest.mark.parametrize("kind", ["projective", "elastic"])
def test_projective_and_elastic_move_pixels_and_keep_most_ink(
    digits: torch.Tensor, kind: str
) -> None:
    result = distort(digits, kind, seed=0)
    assert result.shape == digits.shape
    changed = (result.int() - digits.int()).abs() > 32
    assert changed.flatten(1).float().mean(dim=1).min() > 0.01
    ratio = ink(result) / ink(digits)
    assert 0.5 < ratio.mean() < 1.0
    assert ratio.min() > 0.15 and ratio.max() < 2.5


# --- Every kind -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_reproducible_and_independent_of_chunk_size(digits: torch.Tensor, kind: str) -> None:
    first = distort(digits, kind, seed=3)
    assert torch.equal(first, distort(digits, kind, seed=3))
    assert torch.equal(first, distort(digits, kind, seed=3, chunk_size=5))
    if kind == "none":
        assert torch.equal(first, digits)
    else:
        assert not torch.equal(first, distort(digits, kind, seed=4))


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_type_shape_and_device_are_kept(digits: torch.Tensor, kind: str) -> None:
    colour = digits[:6].expand(6, 3, SIZE, SIZE).contiguous()
    result = distort(colour, kind, seed=1)
    size = output_size(kind, SIZE)
    assert result.shape == (6, 3, size, size)
    assert result.dtype == torch.uint8 and result.device == colour.device
    # Channels share their parameters: grey in, grey out.
    assert torch.equal(result[:, 0], result[:, 1]) and torch.equal(result[:, 0], result[:, 2])
    assert torch.equal(result[:, :1], distort(digits[:6], kind, seed=1))


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_empty_batch(kind: str) -> None:
    empty = torch.zeros(0, 1, SIZE, SIZE, dtype=torch.uint8)
    size = output_size(kind, SIZE)
    assert distort(empty, kind, seed=0).shape == (0, 1, size, size)


def test_none_returns_a_copy(digits: torch.Tensor) -> None:
    result = distort(digits, "none", seed=0)
    assert torch.equal(result, digits) and result.data_ptr() != digits.data_ptr()
