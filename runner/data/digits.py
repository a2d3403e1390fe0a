"""Synthetic handwritten-style digits: an offline stand-in for MNIST.

Every digit class is described by a few *allographs* (the different ways people write it:
a 7 with or without a crossbar, an open or a closed 4, ...).  An allograph is a set of pen
strokes, each a smooth curve drawn in a unit box (x to the right, y downwards, height 1).
The curves are flattened once into short line segments, the *skeleton* of the glyph.

To draw one sample we pick an allograph of its class, bend its skeleton with a smooth random
displacement field (so the strokes wobble like a hand, they do not get pixel noise), slant,
rotate and stretch it, fit it into a box of 17 to 20 pixels near the centre of the 28x28
image like MNIST does, and paint it: a pixel's ink follows its distance to the nearest stroke segment,
which gives round pen tips, a chosen stroke width and anti-aliased edges.

Everything is vectorised over samples and rendered in chunks, so tens of thousands of images
take a few seconds on a CPU.  All randomness comes from one ``torch.Generator`` seeded by
the caller: the same seed gives bit-identical tensors.
"""

import contextlib
import itertools
import math
from collections.abc import Iterator

import torch

IMAGE_SIZE = 28
NUM_CLASSES = 10

# A point is (x, y) in the glyph's unit box; a stroke is the list of points the pen visits.
Point = tuple[float, float]
Stroke = list[Point]

# How much the handwriting varies.  These ranges set the difficulty of the data set: a small
# CNN reaches about 99% test accuracy in 2 epochs while a linear model stays below 90%.
WOBBLE = 0.06  # largest displacement by each of 3 waves bending the strokes, in glyph heights
ASPECT_RANGE = (0.75, 1.25)  # horizontal stretch: narrow or wide writing
SLANT_RANGE = (-0.2, 0.45)  # horizontal shear per unit of height; positive leans right
MAX_ROTATION = 0.2  # radians, about 11 degrees either way
SIZE_RANGE = (17.0, 20.0)  # pixels, of the digit's longer side including the stroke width
MAX_SHIFT = 2.5  # pixels, of the digit's centre from the image centre, in x and in y
STROKE_RADIUS_RANGE = (0.8, 1.7)  # pixels: strokes 1.6 to 3.4 pixels wide, plus anti-aliasing

# Distance between consecutive skeleton points, in glyph units (a glyph is 1 unit high,
# which becomes about 20 pixels): fine enough for round-looking curves, coarse enough to
# keep the number of segments, and so the rendering cost, small.
_SAMPLING_STEP = 0.09

# Images rendered at once; bounds the memory of the [chunk, segments, window, window] tensors.
_CHUNK_SIZE = 512


# --- Building blocks of the glyphs -------------------------------------------------------------


def _line(start: Point, end: Point) -> Stroke:
    # Split into short pieces, so that the random bending can curve long lines too.
    steps = max(1, math.ceil(math.dist(start, end) / _SAMPLING_STEP))
    return [
        (start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        for i in range(steps + 1)
    ]


def _arc(
    centre: Point, radius_x: float, radius_y: float, start_deg: float, end_deg: float
) -> Stroke:
    """Elliptical arc; angles count counter-clockwise as seen on screen, 0 degrees points right."""
    length = math.radians(abs(end_deg - start_deg)) * (radius_x + radius_y) / 2
    steps = max(2, math.ceil(length / _SAMPLING_STEP))
    points = []
    for i in range(steps + 1):
        angle = math.radians(start_deg + (end_deg - start_deg) * i / steps)
        points.append(
            (centre[0] + radius_x * math.cos(angle), centre[1] - radius_y * math.sin(angle))
        )
    return points


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point) -> Stroke:
    """Cubic Bezier curve from p0 to p3, pulled towards the control points p1 and p2."""

    def point_at(t: float) -> Point:
        weights = ((1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3)
        controls = (p0, p1, p2, p3)
        return (
            sum(w * p[0] for w, p in zip(weights, controls, strict=True)),
            sum(w * p[1] for w, p in zip(weights, controls, strict=True)),
        )

    fine = [point_at(i / 64) for i in range(65)]
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(fine))
    steps = max(2, math.ceil(length / _SAMPLING_STEP))
    return [point_at(i / steps) for i in range(steps + 1)]


def _path(*pieces: Stroke) -> Stroke:
    """Join pieces drawn without lifting the pen (each piece starts where the last one ended)."""
    points = list(pieces[0])
    for piece in pieces[1:]:
        points.extend(piece[1:] if math.dist(points[-1], piece[0]) < 1e-6 else piece)
    return points


# --- The allographs of each digit --------------------------------------------------------------


def _zero() -> list[list[Stroke]]:
    """The ways of writing 0, each a list of strokes."""
    return [
        [_arc((0.5, 0.5), 0.28, 0.48, 90, 450)],
        [_arc((0.5, 0.5), 0.22, 0.48, 100, 480)],  # overshoots its start a little
        [
            _path(
                _bezier((0.55, 0.0), (0.1, 0.0), (0.15, 1.0), (0.5, 1.0)),
                _bezier((0.5, 1.0), (0.9, 1.0), (0.85, 0.0), (0.45, 0.05)),
            )
        ],
    ]


def _one() -> list[list[Stroke]]:
    """The ways of writing 1, each a list of strokes."""
    return [
        [_line((0.5, 0.0), (0.5, 1.0))],
        [_path(_line((0.33, 0.17), (0.5, 0.0)), _line((0.5, 0.0), (0.5, 1.0)))],
        [
            _path(_line((0.28, 0.22), (0.5, 0.0)), _line((0.5, 0.0), (0.5, 1.0))),
            _line((0.28, 1.0), (0.72, 1.0)),
        ],
        [_bezier((0.45, 0.0), (0.52, 0.35), (0.52, 0.7), (0.47, 1.0))],
    ]


def _two() -> list[list[Stroke]]:
    """The ways of writing 2, each a list of strokes."""
    return [
        [
            _path(
                _arc((0.5, 0.27), 0.27, 0.26, 160, -20),
                _bezier((0.75, 0.36), (0.65, 0.6), (0.35, 0.8), (0.18, 1.0)),
                _line((0.18, 1.0), (0.85, 1.0)),
            )
        ],
        [
            _path(
                _arc((0.5, 0.27), 0.27, 0.26, 165, -25),
                _bezier((0.74, 0.38), (0.6, 0.65), (0.3, 0.85), (0.2, 0.95)),
                _bezier((0.2, 0.95), (0.05, 1.0), (0.05, 0.8), (0.25, 0.8)),
                _bezier((0.25, 0.8), (0.45, 0.8), (0.4, 1.0), (0.6, 0.98)),
                _line((0.6, 0.98), (0.85, 0.98)),
            )
        ],
        [
            _path(
                _bezier((0.2, 0.2), (0.3, -0.05), (0.85, -0.05), (0.75, 0.3)),
                _bezier((0.75, 0.3), (0.65, 0.55), (0.2, 0.85), (0.15, 1.0)),
                _bezier((0.15, 1.0), (0.4, 0.93), (0.6, 1.0), (0.85, 0.98)),
            )
        ],
    ]


def _three() -> list[list[Stroke]]:
    """The ways of writing 3, each a list of strokes."""
    return [
        [_path(_arc((0.47, 0.25), 0.25, 0.24, 150, -90), _arc((0.47, 0.73), 0.3, 0.26, 90, -150))],
        [
            _path(
                _line((0.2, 0.0), (0.78, 0.0)),
                _line((0.78, 0.0), (0.42, 0.42)),
                _bezier((0.42, 0.42), (0.95, 0.38), (0.9, 1.05), (0.45, 1.0)),
                _line((0.45, 1.0), (0.18, 0.88)),
            )
        ],
        [
            _path(
                _bezier((0.2, 0.1), (0.55, -0.1), (0.9, 0.2), (0.45, 0.48)),
                _bezier((0.45, 0.48), (1.0, 0.5), (0.85, 1.1), (0.2, 0.92)),
            )
        ],
    ]


def _four() -> list[list[Stroke]]:
    """The ways of writing 4, each a list of strokes."""
    return [
        [
            _path(_line((0.55, 0.0), (0.12, 0.68)), _line((0.12, 0.68), (0.88, 0.68))),
            _line((0.66, 0.3), (0.66, 1.0)),
        ],
        [
            _path(_line((0.62, 0.0), (0.12, 0.68)), _line((0.12, 0.68), (0.88, 0.68))),
            _line((0.62, 0.0), (0.62, 1.0)),
        ],
        [
            _path(_line((0.2, 0.0), (0.16, 0.58)), _line((0.16, 0.58), (0.85, 0.58))),
            _line((0.68, 0.02), (0.68, 1.0)),
        ],
    ]


def _five() -> list[list[Stroke]]:
    """The ways of writing 5, each a list of strokes."""
    return [
        [
            _path(
                _line((0.8, 0.0), (0.3, 0.0)),
                _line((0.3, 0.0), (0.25, 0.45)),
                _bezier((0.25, 0.45), (0.7, 0.28), (1.0, 0.75), (0.55, 0.97)),
                _bezier((0.55, 0.97), (0.4, 1.03), (0.25, 0.98), (0.15, 0.88)),
            )
        ],
        [
            _path(
                _line((0.3, 0.04), (0.24, 0.46)),
                _bezier((0.24, 0.46), (0.7, 0.3), (1.0, 0.75), (0.55, 0.97)),
                _bezier((0.55, 0.97), (0.4, 1.03), (0.25, 0.98), (0.15, 0.88)),
            ),
            _line((0.32, 0.0), (0.82, 0.02)),
        ],
    ]


def _six() -> list[list[Stroke]]:
    """The ways of writing 6, each a list of strokes."""
    return [
        [
            _path(
                _bezier((0.72, 0.05), (0.4, 0.1), (0.2, 0.45), (0.22, 0.72)),
                _arc((0.47, 0.72), 0.25, 0.26, 180, -180),
            )
        ],
        [_path(_line((0.65, 0.0), (0.25, 0.66)), _arc((0.48, 0.74), 0.24, 0.24, 200, -160))],
    ]


def _seven() -> list[list[Stroke]]:
    """The ways of writing 7, each a list of strokes."""
    return [
        [_path(_line((0.15, 0.0), (0.82, 0.0)), _line((0.82, 0.0), (0.38, 1.0)))],
        [
            _path(_line((0.15, 0.0), (0.82, 0.0)), _line((0.82, 0.0), (0.38, 1.0))),
            _line((0.38, 0.5), (0.8, 0.5)),
        ],
        [
            _path(
                _line((0.15, 0.06), (0.8, 0.0)),
                _bezier((0.8, 0.0), (0.6, 0.3), (0.48, 0.6), (0.45, 1.0)),
            )
        ],
        [
            _path(
                _line((0.15, 0.18), (0.15, 0.0)),
                _line((0.15, 0.0), (0.82, 0.0)),
                _line((0.82, 0.0), (0.42, 1.0)),
            )
        ],
    ]


def _eight() -> list[list[Stroke]]:
    """The ways of writing 8, each a list of strokes."""
    return [
        [_arc((0.5, 0.25), 0.22, 0.25, 270, 630), _arc((0.5, 0.74), 0.27, 0.26, 90, 450)],
        [
            _path(
                _bezier((0.5, 0.5), (0.18, 0.36), (0.25, 0.0), (0.5, 0.0)),
                _bezier((0.5, 0.0), (0.75, 0.0), (0.82, 0.36), (0.5, 0.5)),
                _bezier((0.5, 0.5), (0.12, 0.64), (0.2, 1.0), (0.5, 1.0)),
                _bezier((0.5, 1.0), (0.82, 1.0), (0.88, 0.64), (0.5, 0.5)),
            )
        ],
    ]


def _nine() -> list[list[Stroke]]:
    """The ways of writing 9, each a list of strokes."""
    return [
        [_arc((0.5, 0.28), 0.25, 0.27, 0, 360), _line((0.75, 0.28), (0.72, 1.0))],
        [
            _path(
                _arc((0.5, 0.28), 0.25, 0.27, 0, 360),
                _bezier((0.75, 0.28), (0.75, 0.7), (0.6, 0.95), (0.3, 1.0)),
            )
        ],
        [_path(_arc((0.48, 0.27), 0.24, 0.25, 10, 370), _line((0.72, 0.23), (0.52, 1.0)))],
    ]


def _allographs() -> list[list[list[Stroke]]]:
    """For each digit 0-9, its ways of writing, each a list of strokes in a unit-high box."""
    return [
        _zero(),
        _one(),
        _two(),
        _three(),
        _four(),
        _five(),
        _six(),
        _seven(),
        _eight(),
        _nine(),
    ]


def _segment_tables() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flatten all allographs into padded segment tables.

    Returns ``starts`` and ``ends`` of shape [allographs, segments, 2], plus for each class
    the index of its first allograph and its number of allographs.  Glyphs with fewer
    segments are padded by repeating their last segment, which leaves the drawing unchanged.
    """
    glyphs: list[list[tuple[Point, Point]]] = []
    first_allograph, allograph_count = [], []
    for allographs in _allographs():
        first_allograph.append(len(glyphs))
        allograph_count.append(len(allographs))
        for strokes in allographs:
            glyphs.append([seg for stroke in strokes for seg in itertools.pairwise(stroke)])
    max_segments = max(len(segments) for segments in glyphs)
    padded = [segments + [segments[-1]] * (max_segments - len(segments)) for segments in glyphs]
    table = torch.tensor(padded, dtype=torch.float32)  # [allographs, segments, 2 ends, 2 coords]
    return (
        table[:, :, 0],
        table[:, :, 1],
        torch.tensor(first_allograph),
        torch.tensor(allograph_count),
    )


_SEGMENT_STARTS, _SEGMENT_ENDS, _FIRST_ALLOGRAPH, _ALLOGRAPH_COUNT = _segment_tables()


# --- Random handwriting variations -------------------------------------------------------------


def _uniform(generator: torch.Generator, count: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def _wobble(points: torch.Tensor, generator: torch.Generator, amplitude: float) -> torch.Tensor:
    """Bend each sample's skeleton with a smooth random displacement field.

    The field is a sum of a few long-wavelength plane waves, so nearby points move together:
    strokes bend and loops change shape, but joints stay joined and lines stay smooth.
    points: [samples, n, 2] in glyph units.
    """
    samples, waves = points.shape[0], 3
    direction = 2 * math.pi * torch.rand(samples, waves, generator=generator)
    cycles_per_unit = 0.4 + 0.6 * torch.rand(samples, waves, generator=generator)
    unit_direction = torch.stack([direction.cos(), direction.sin()], dim=-1)
    frequency = 2 * math.pi * cycles_per_unit[..., None] * unit_direction  # [samples, waves, 2]
    phase = 2 * math.pi * torch.rand(samples, waves, generator=generator)
    displacement = amplitude * (2 * torch.rand(samples, waves, 2, generator=generator) - 1)
    wave = torch.sin(torch.einsum("snc,swc->snw", points, frequency) + phase[:, None, :])
    return points + torch.einsum("snw,swc->snc", wave, displacement)


def _place_in_image(
    points: torch.Tensor, generator: torch.Generator, stroke_radius: torch.Tensor
) -> torch.Tensor:
    """Stretch, slant, rotate and fit the glyphs into the 28x28 image, in pixel units.

    Like MNIST, the digit (strokes included) is scaled so that its longer side is about
    20 pixels (see SIZE_RANGE), then centred, give or take a shift of a few pixels.
    """
    samples = points.shape[0]
    x, y = points[..., 0] - 0.5, points[..., 1] - 0.5
    x = x * _uniform(generator, samples, *ASPECT_RANGE)[:, None]
    x = x - _uniform(generator, samples, *SLANT_RANGE)[:, None] * y
    angle = _uniform(generator, samples, -MAX_ROTATION, MAX_ROTATION)[:, None]
    x, y = x * angle.cos() - y * angle.sin(), x * angle.sin() + y * angle.cos()

    low_x, high_x = x.amin(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
    low_y, high_y = y.amin(dim=1, keepdim=True), y.amax(dim=1, keepdim=True)
    longer_side = torch.maximum(high_x - low_x, high_y - low_y)
    box = _uniform(generator, samples, *SIZE_RANGE)[:, None] - 2 * stroke_radius[:, None]
    scale = box / longer_side
    shift = _uniform(generator, samples * 2, -MAX_SHIFT, MAX_SHIFT).view(samples, 2)
    centre = IMAGE_SIZE / 2
    x = (x - (low_x + high_x) / 2) * scale + centre + shift[:, :1]
    y = (y - (low_y + high_y) / 2) * scale + centre + shift[:, 1:]
    return torch.stack([x, y], dim=-1)


# --- Rendering ---------------------------------------------------------------------------------


def _render(starts: torch.Tensor, ends: torch.Tensor, stroke_radius: torch.Tensor) -> torch.Tensor:
    """Paint line segments as round-tipped strokes: ink fades with distance to the nearest one.

    starts, ends: [samples, segments, 2] in pixel units; stroke_radius: [samples].
    Returns float intensities in [0, 1] of shape [samples, 28, 28].

    The segments are short, so each one only reaches the pixels of a small square window
    around it: we measure distances there only, and every pixel keeps its strongest ink.
    """
    samples = starts.shape[0]
    reach = (stroke_radius + 0.5)[:, None, None, None]  # ink reaches this far from a segment
    # Pixel (column, row) has its centre at (column + 0.5, row + 0.5).  Each window starts at
    # the first pixel centre its segment's ink can reach and is as wide as the widest needs.
    first_pixel = (torch.minimum(starts, ends) - reach[..., 0] - 0.5).ceil()
    last_pixel = (torch.maximum(starts, ends) + reach[..., 0] - 0.5).floor()
    window = int((last_pixel - first_pixel).max().item()) + 1
    offsets = torch.arange(window, dtype=torch.float32)
    columns = first_pixel[..., 0, None, None] + offsets  # [samples, segments, 1, window]
    rows = first_pixel[..., 1, None, None] + offsets[:, None]  # [samples, segments, window, 1]

    # Offsets from each segment's start to its end (d) and to the window's pixel centres (p).
    ax, ay = starts[..., 0, None, None], starts[..., 1, None, None]
    dx, dy = ends[..., 0, None, None] - ax, ends[..., 1, None, None] - ay
    px, py = columns + 0.5 - ax, rows + 0.5 - ay
    # Position of the point of the segment closest to the pixel: 0 at its start, 1 at its end.
    along = (px * dx + py * dy).div_((dx * dx + dy * dy).clamp_min(1e-6)).clamp_(0, 1)
    distance = (px - along * dx).square_().add_((py - along * dy).square_()).sqrt_()
    # Full ink inside the stroke, then a linear ramp one pixel wide across its edge.
    ink = distance.neg_().add_(reach).clamp_(0, 1)

    # Windows may stick out of the image: draw on a canvas with a margin, then cut it off.
    margin = window
    side = IMAGE_SIZE + 2 * margin
    pixel_index = ((rows + margin) * side + (columns + margin)).long()
    canvas = torch.zeros(samples, side * side)
    canvas.scatter_reduce_(1, pixel_index.view(samples, -1), ink.view(samples, -1), "amax")
    canvas = canvas.view(samples, side, side)
    return canvas[:, margin : margin + IMAGE_SIZE, margin : margin + IMAGE_SIZE]


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """Run torch operations on one thread for a while.

    Rendering is a long series of small tensor operations.  Splitting each of them over
    threads hardly helps, and on a busy CPU it costs a lot: every operation waits for all
    its threads to be scheduled (measured on 2 cores shared with another job: 15x slower).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def generate_digits(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 [count, 28, 28], labels int64 [count]) of synthetic digits.

    White strokes (up to 255) on black (0), like MNIST.  Labels are balanced: each class
    appears ``count // 10`` or ``count // 10 + 1`` times, in random order.  Deterministic:
    the same ``(count, seed)`` gives bit-identical tensors (for a given torch build and CPU).
    """
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    labels = (torch.arange(count) % NUM_CLASSES)[torch.randperm(count, generator=generator)]

    # Which way of writing its digit each sample uses.
    choice = torch.rand(count, generator=generator) * _ALLOGRAPH_COUNT[labels]
    allograph = _FIRST_ALLOGRAPH[labels] + choice.long()
    stroke_radius = _uniform(generator, count, *STROKE_RADIUS_RANGE)

    images = torch.empty(count, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    segments = _SEGMENT_STARTS.shape[1]
    with _single_threaded():
        for begin in range(0, count, _CHUNK_SIZE):
            end = min(begin + _CHUNK_SIZE, count)
            chosen, radius = allograph[begin:end], stroke_radius[begin:end]
            # Starts and ends get the same transform, so segments that touch keep touching.
            points = torch.cat([_SEGMENT_STARTS[chosen], _SEGMENT_ENDS[chosen]], dim=1)
            points = _wobble(points, generator, WOBBLE)
            points = _place_in_image(points, generator, radius)
            ink = _render(points[:, :segments], points[:, segments:], radius)
            images[begin:end] = (ink * 255).round_().to(torch.uint8)
    return images, labels
