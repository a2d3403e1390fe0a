"""Distorted digits of the Spatial Transformer Networks paper (Jaderberg et al. 2015, Table 1).

Four distortions of 28x28 digits, plus "none":

- ``rotated``: rotation by a uniform angle in +-90 degrees, on the same 28x28 image.
- ``rts``: rotation in +-45 degrees and scaling by 0.7-1.2, placed at a random position in a
  42x42 canvas such that the digit stays inside it.
- ``projective``: scaling by 0.75-1.0, then each image corner moved by an independent
  N(0, 5 px) displacement in x and in y; the image is warped by the homography that maps the
  corners to their new positions.
- ``elastic``: scaling by 0.75-1.0, then a thin-plate-spline warp whose 4x4 control points
  move by independent N(0, 2 px) displacements.

Every warp is a backward map sampled with bilinear ``grid_sample`` (zero fill), for a whole
batch at once.  Coordinates follow ``grid_sample`` with ``align_corners=False``: x to the
right, y downwards, (-1, -1) and (1, 1) the outer corners of the image.

``distort`` draws every image's parameters up front from a CPU ``torch.Generator`` seeded by
the caller, so its output depends only on the images and the seed, not on the device or on
the chunk size that bounds its memory.

Where the paper leaves details open, this module chooses:

- ``rotated``: the rotated digit stays on the 28x28 image; corners that leave it are cut.
- ``rts``: the canvas side is 1.5 times the image side.  The position is uniform over the
  offsets that keep every inked pixel (with bilinear interpolation's reach) inside the canvas
  with a free margin of 1 pixel, so the digit is never cut, and a smaller digit roams further.
- ``projective``: the corners are those of the whole image and the shifts are forward (the
  image's corners move, the digit follows).  Shifts are redrawn when the quadrilateral is
  close to a triangle (see ``corner_area_ratios``): such a homography squeezes the digit
  into a sliver and would erase it.
- ``elastic``: the paper names a thin-plate warp but no parameters.  Here 16 control points
  on a 4x4 grid spanning the image each sample a point shifted by N(0, 2 px) in x and in y
  (clipped at 6 px): a smooth warp a few pixels strong, comparable in difficulty to
  ``projective``, as the paper's error rates for P and E are.
"""

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from runner.data.canvas import (  # noqa: F401 (the module's public names)
    DISTORTIONS,
    RTS_CANVAS_FACTOR,
    check_kind,
    output_size,
)

ROTATED_MAX_ANGLE = 90.0  # degrees, either way

RTS_MAX_ANGLE = 45.0  # degrees, either way
RTS_SCALE_RANGE = (0.7, 1.2)
RTS_MARGIN = 1.0  # pixels kept free of ink along each side of the canvas

PROJECTIVE_SCALE_RANGE = (0.75, 1.0)
PROJECTIVE_CORNER_STD = 5.0  # pixels
# Corner shifts are redrawn until each triangle of three consecutive corners keeps at least
# this fraction of its area (see corner_area_ratios); about 9% of draws are redrawn.
PROJECTIVE_MIN_AREA_RATIO = 0.25

ELASTIC_SCALE_RANGE = (0.75, 1.0)
ELASTIC_GRID = 4  # control points per side of the thin-plate spline's square grid
ELASTIC_SHIFT_STD = 2.0  # pixels
ELASTIC_MAX_SHIFT = 6.0  # pixels: control point displacements are clipped at 3 std

# Grid coordinate of points that must sample nothing: far enough outside [-1, 1] that
# bilinear sampling only sees the zero padding.
_OUTSIDE = 3.0


# --- Public entry points -----------------------------------------------------------------------


def distort(images: Tensor, kind: str, seed: int, *, chunk_size: int = 10_000) -> Tensor:
    """Return the ``kind`` distortion of uint8 ``images`` [N, C, H, H], on their device.

    The result is uint8 [N, C, S, S] with S = ``output_size(kind, H)``.  The same images and
    seed give the same result whatever the device (up to floating-point differences between
    devices) and whatever ``chunk_size``, the number of images warped at once.
    """
    check_kind(kind)
    _check_images(images)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if kind == "none":
        return images.clone()

    count, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    parameters = [p.to(images.device) for p in _DRAW[kind](generator, count, size)]
    warp = _WARP[kind]

    canvas = output_size(kind, size)
    result = torch.empty(count, channels, canvas, canvas, dtype=torch.uint8, device=images.device)
    for begin in range(0, count, chunk_size):
        end = min(begin + chunk_size, count)
        chunk = [p[begin:end] for p in parameters]
        result[begin:end] = to_uint8(warp(to_float(images[begin:end]), *chunk))
    return result


def to_float(images: Tensor) -> Tensor:
    """uint8 pixels to float32 in [0, 1]."""
    return images.to(torch.float32) / 255


def to_uint8(images: Tensor) -> Tensor:
    """Float pixels in [0, 1] to uint8, rounded to the nearest level."""
    return (images * 255).round_().clamp_(0, 255).to(torch.uint8)


# --- Rotation, scaling and placement -----------------------------------------------------------


def rotate(images: Tensor, angles_degrees: Tensor) -> Tensor:
    """Rotate float images [N, C, H, H] about their centre, counter-clockwise for positive angles.

    Bilinear with zero fill: the same as ``torchvision.transforms.v2.functional.rotate`` with
    ``InterpolationMode.BILINEAR``, but with one angle per image.
    """
    count, size = images.shape[0], images.shape[-1]
    scales = torch.ones(count, dtype=images.dtype, device=images.device)
    offsets = torch.zeros(count, 2, dtype=images.dtype, device=images.device)
    return rotate_scale_translate(images, angles_degrees, scales, offsets, size)


def rotate_scale_translate(
    images: Tensor, angles_degrees: Tensor, scales: Tensor, offsets: Tensor, canvas_size: int
) -> Tensor:
    """Rotate and scale float images [N, C, H, H] about their centre onto a square canvas.

    The centre of image n lands ``offsets[n]`` (x, y in pixels) from the canvas centre.
    Returns [N, C, canvas_size, canvas_size].
    """
    theta = _affine_theta(
        angles_degrees.to(images), scales.to(images), offsets.to(images), images.shape[-1]
    )
    theta[:, :, :2] *= canvas_size / images.shape[-1]
    shape = [images.shape[0], images.shape[1], canvas_size, canvas_size]
    return _sample(images, F.affine_grid(theta, shape, align_corners=False))


def rts_offset_bounds(
    images: Tensor,
    angles_degrees: Tensor,
    scales: Tensor,
    canvas_size: int,
    margin: float = RTS_MARGIN,
) -> tuple[Tensor, Tensor]:
    """Lowest and highest offsets [N, 2] that keep each rotated, scaled digit inside the canvas.

    The digit is the image's non-zero pixels, each widened by the reach of bilinear
    interpolation; with any offset between the bounds, the ``margin`` pixels along each side
    of the canvas stay free of ink.  Where no offset fits (a digit too large for the canvas),
    both bounds are the offset that centres it; a blank image gets offset 0.
    """
    size = images.shape[-1]
    inked = images.amax(dim=1).flatten(1) > 0  # [N, H * W]
    angles, scales = angles_degrees.to(torch.float32), scales.to(torch.float32)
    centres = _identity_grid(size, size, scales).reshape(1, -1, 2) * (size / 2)
    forward = _rotation_matrices(angles, clockwise=False) * scales[:, None, None]
    moved = centres @ forward.transpose(1, 2)  # [N, H * W, 2], pixels, before the offset
    # A pixel's ink reaches less than 1 pixel from its centre in x and in y: after rotating
    # and scaling that square, less than this far along each axis.
    radians = torch.deg2rad(angles)
    reach = (scales * (radians.cos().abs() + radians.sin().abs()))[:, None]
    lowest = torch.where(inked[..., None], moved, torch.inf).amin(dim=1) - reach
    highest = torch.where(inked[..., None], moved, -torch.inf).amax(dim=1) + reach
    blank = ~inked.any(dim=1, keepdim=True)
    lowest, highest = lowest.masked_fill(blank, 0.0), highest.masked_fill(blank, 0.0)

    half = canvas_size / 2
    low, high = margin - half - lowest, half - margin - highest
    middle = (low + high) / 2
    fits = high >= low
    return torch.where(fits, low, middle), torch.where(fits, high, middle)


def rotate_scale_place(
    images: Tensor,
    angles_degrees: Tensor,
    scales: Tensor,
    positions: Tensor,
    canvas_size: int,
) -> Tensor:
    """The RTS distortion: rotate and scale each digit, then place it inside the canvas.

    ``positions`` [N, 2] in [0, 1] say where, between the bounds of ``rts_offset_bounds``, the
    digit goes in x and in y: 0 as far left (up) as it fits, 1 as far right (down).
    """
    low, high = rts_offset_bounds(images, angles_degrees, scales, canvas_size)
    offsets = low + positions.to(low) * (high - low)
    return rotate_scale_translate(images, angles_degrees, scales, offsets, canvas_size)


# --- Projective --------------------------------------------------------------------------------


def projective_homographies(scales: Tensor, corner_shifts: Tensor, image_size: int) -> Tensor:
    """Backward homographies [N, 3, 3] of the projective distortion, in grid coordinates.

    The image is scaled by ``scales`` [N] about its centre, then its corners (top left, top
    right, bottom right, bottom left) move by ``corner_shifts`` [N, 4, 2] (x, y in pixels).
    Each matrix maps an output point to the input point it samples.  Computed in float64 on
    the CPU, so that the same parameters give the same matrices on every device.
    """
    scales = scales.detach().to("cpu", torch.float64)
    corner_shifts = corner_shifts.detach().to("cpu", torch.float64)
    corners = _square_corners().expand(len(scales), 4, 2)
    moved = scales[:, None, None] * corners + corner_shifts * (2 / image_size)
    return _homographies(moved, corners)


def warp_homography(images: Tensor, homographies: Tensor) -> Tensor:
    """Warp float images [N, C, H, W] by backward homographies [N, 3, 3] in grid coordinates.

    Output points on or beyond the homography's vanishing line (the side away from the output
    point that samples the input's centre) sample nothing.
    """
    matrices = homographies.to(images)
    grid = _identity_grid(images.shape[-2], images.shape[-1], images)
    x, y = grid[..., 0], grid[..., 1]  # [H, W]
    rows = [matrices[:, i, :, None, None] for i in range(3)]  # each [N, 3, 1, 1]
    u, v, w = (row[:, 0] * x + row[:, 1] * y + row[:, 2] for row in rows)  # each [N, H, W]
    orientation = _centre_orientation(matrices)[:, None, None]
    visible = w * orientation > 1e-6
    denominator = torch.where(visible, w, 1.0)
    sampled = torch.stack([u / denominator, v / denominator], dim=-1).clamp(-_OUTSIDE, _OUTSIDE)
    return _sample(images, torch.where(visible[..., None], sampled, _OUTSIDE))


def project(images: Tensor, scales: Tensor, corner_shifts: Tensor) -> Tensor:
    """The projective distortion of float images [N, C, H, H]; see ``projective_homographies``."""
    homographies = projective_homographies(scales, corner_shifts, images.shape[-1])
    return warp_homography(images, homographies)


def corner_area_ratios(scales: Tensor, corner_shifts: Tensor) -> Tensor:
    """The smallest area ratio [N] of the four triangles of consecutive corners, moved to unmoved.

    Scales and shifts are in grid units.  A ratio at or below 0 is a quadrilateral that is not
    convex, no view of a flat image: its homography sends part of the image beyond infinity.
    Near 0 the quadrilateral is almost a triangle, and the homography squeezes the middle of
    the image, where the digit is, onto a line.
    """
    corners = scales[:, None, None] * _square_corners().to(scales) + corner_shifts
    edges = corners.roll(-1, dims=1) - corners
    following = edges.roll(-1, dims=1)
    doubled_areas = edges[..., 0] * following[..., 1] - edges[..., 1] * following[..., 0]
    unmoved = 4 * scales.square()  # twice the area of half the unmoved square, of side 2 * scale
    return (doubled_areas / unmoved[:, None]).amin(dim=1)


# --- Elastic -----------------------------------------------------------------------------------


def elastic(images: Tensor, scales: Tensor, control_shifts: Tensor) -> Tensor:
    """The elastic distortion of float images [N, C, H, H]: scale, then a thin-plate warp.

    The image is scaled by ``scales`` [N] about its centre; then the output point at each
    control point of a G x G grid spanning the image samples the point ``control_shifts``
    [N, G, G, 2] (x, y in pixels; rows top to bottom) away from it, and the thin-plate spline
    through the control points, the smoothest such map, gives the other points' shifts.
    """
    count, size, grid_points = images.shape[0], images.shape[-1], control_shifts.shape[1]
    weights = _thin_plate_weights(size, grid_points).to(images)  # [H * H, G * G]
    shifts = control_shifts.to(images).reshape(count, grid_points**2, 2) * (2 / size)
    grid = _identity_grid(size, size, images).reshape(1, size * size, 2) + weights @ shifts
    grid = grid / scales.to(images)[:, None, None]
    return _sample(images, grid.reshape(count, size, size, 2))


# --- Random parameters -------------------------------------------------------------------------


def _uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _draw_rotated(generator: torch.Generator, count: int, image_size: int) -> list[Tensor]:
    return [_uniform(generator, (count,), -ROTATED_MAX_ANGLE, ROTATED_MAX_ANGLE)]


def _draw_rts(generator: torch.Generator, count: int, image_size: int) -> list[Tensor]:
    angles = _uniform(generator, (count,), -RTS_MAX_ANGLE, RTS_MAX_ANGLE)
    scales = _uniform(generator, (count,), *RTS_SCALE_RANGE)
    positions = torch.rand(count, 2, generator=generator)
    return [angles, scales, positions]


def _draw_projective(generator: torch.Generator, count: int, image_size: int) -> list[Tensor]:
    """Homographies of random scales and corner shifts, redrawn while too close to degenerate."""
    scales = _uniform(generator, (count,), *PROJECTIVE_SCALE_RANGE)
    shifts = PROJECTIVE_CORNER_STD * torch.randn(count, 4, 2, generator=generator)
    grid_units_per_pixel = 2 / image_size
    while True:
        ratios = corner_area_ratios(scales, shifts * grid_units_per_pixel)
        redraw = ratios < PROJECTIVE_MIN_AREA_RATIO
        if not redraw.any():
            break
        shape = (int(redraw.sum()), 4, 2)
        shifts[redraw] = PROJECTIVE_CORNER_STD * torch.randn(shape, generator=generator)
    return [projective_homographies(scales, shifts, image_size).to(torch.float32)]


def _draw_elastic(generator: torch.Generator, count: int, image_size: int) -> list[Tensor]:
    scales = _uniform(generator, (count,), *ELASTIC_SCALE_RANGE)
    shape = (count, ELASTIC_GRID, ELASTIC_GRID, 2)
    shifts = ELASTIC_SHIFT_STD * torch.randn(shape, generator=generator)
    return [scales, shifts.clamp(-ELASTIC_MAX_SHIFT, ELASTIC_MAX_SHIFT)]


_DRAW = {
    "rotated": _draw_rotated,
    "rts": _draw_rts,
    "projective": _draw_projective,
    "elastic": _draw_elastic,
}


def _warp_rts(images: Tensor, angles: Tensor, scales: Tensor, positions: Tensor) -> Tensor:
    canvas = output_size("rts", images.shape[-1])
    return rotate_scale_place(images, angles, scales, positions, canvas)


_WARP = {
    "rotated": rotate,
    "rts": _warp_rts,
    "projective": warp_homography,
    "elastic": elastic,
}


# --- Geometry helpers --------------------------------------------------------------------------


def _check_images(images: Tensor) -> None:
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be [N, C, H, H], got shape {list(images.shape)}")


def _sample(images: Tensor, grid: Tensor) -> Tensor:
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity_grid(height: int, width: int, like: Tensor) -> Tensor:
    """Grid coordinates [H, W, 2] of the pixel centres, of the float type and device of like."""
    theta = torch.eye(2, 3, dtype=like.dtype, device=like.device)[None]
    return F.affine_grid(theta, [1, 1, height, width], align_corners=False)[0]


def _rotation_matrices(angles_degrees: Tensor, *, clockwise: bool) -> Tensor:
    """[N, 2, 2] matrices rotating (x, y) points, y downwards, by the angles as seen on screen."""
    radians = torch.deg2rad(angles_degrees)
    cos, sin = radians.cos(), radians.sin()
    if clockwise:
        sin = -sin
    # With y downwards, turning (1, 0) counter-clockwise on screen points it to (0, -1).
    return torch.stack([torch.stack([cos, sin], dim=-1), torch.stack([-sin, cos], dim=-1)], dim=1)


def _affine_theta(
    angles_degrees: Tensor, scales: Tensor, offsets: Tensor, image_size: int
) -> Tensor:
    """``affine_grid``'s theta [N, 2, 3] for an output canvas the size of the image.

    Forward map, in pixels from the centres: output = scale * rotation(input) + offset.  Theta
    is its inverse in grid coordinates; callers scale the linear part by canvas / image side
    for a larger canvas.
    """
    backward = _rotation_matrices(angles_degrees, clockwise=True) / scales[:, None, None]
    shift = -(backward @ offsets[:, :, None]) * (2 / image_size)
    return torch.cat([backward, shift], dim=2)


def _centre_orientation(matrices: Tensor) -> Tensor:
    """Sign [N] of the homogeneous coordinate of the output point that samples the input's centre.

    That point is inverse @ (0, 0, 1), of homogeneous coordinate 1 / inverse[2, 2], and
    inverse[2, 2] is the cofactor m00 m11 - m01 m10 over the determinant.  Output points
    whose coordinate has the same sign lie on the same side of the vanishing line.
    """
    rows = matrices.unbind(dim=1)
    determinant = (torch.linalg.cross(rows[0], rows[1], dim=-1) * rows[2]).sum(dim=-1)
    cofactor = matrices[:, 0, 0] * matrices[:, 1, 1] - matrices[:, 0, 1] * matrices[:, 1, 0]
    return (cofactor * determinant).sign()


def _square_corners() -> Tensor:
    """The image's corners in grid coordinates, clockwise on screen from the top left."""
    return torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)


def _homographies(sources: Tensor, targets: Tensor) -> Tensor:
    """Homographies [N, 3, 3] mapping four points [N, 4, 2] each to their targets."""
    x, y = sources.unbind(dim=-1)
    u, v = targets.unbind(dim=-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    u_rows = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)
    v_rows = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    system = torch.cat([u_rows, v_rows], dim=1)  # [N, 8, 8]
    entries = torch.linalg.solve(system, torch.cat([u, v], dim=1))  # [N, 8]
    return torch.cat([entries, one[:, :1]], dim=1).reshape(-1, 3, 3)


def _thin_plate_kernel(distances: Tensor) -> Tensor:
    squared = distances.square()
    return torch.where(squared > 0, squared * squared.clamp_min(1e-300).log(), 0.0)


@functools.cache
def _thin_plate_weights(image_size: int, grid_points: int) -> Tensor:
    """Matrix [H * H, G * G] taking values at the control points to the thin-plate spline's
    values at the pixel centres.  float64, CPU; the control points span the image."""
    line = torch.linspace(-1, 1, grid_points, dtype=torch.float64)
    rows, columns = torch.meshgrid(line, line, indexing="ij")
    controls = torch.stack([columns, rows], dim=-1).reshape(-1, 2)  # x, y; row by row
    count = len(controls)

    def basis(points: Tensor) -> Tensor:
        kernel = _thin_plate_kernel(torch.cdist(points, controls))
        return torch.cat([kernel, torch.ones(len(points), 1, dtype=points.dtype), points], dim=1)

    system = torch.zeros(count + 3, count + 3, dtype=torch.float64)
    system[:count] = basis(controls)
    system[count:, :count] = system[:count, count:].T
    pixels = _identity_grid(image_size, image_size, line).reshape(-1, 2)
    return (basis(pixels) @ torch.linalg.inv(system))[:, :count]
