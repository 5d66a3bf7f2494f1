"""Real-looking data sets in the real file formats: handwritten-style digits and photographed objects.

A network cannot read these off a pixel or two, as it can the tests' pattern images. Each digit is
drawn by a pen following a jittered stroke skeleton (loops that do not close, sevens with and
without a bar) or set in one of the machine's fonts, at a random stroke width, slant, rotation and
aspect, distorted elastically, then framed as MNIST frames its digits: the ink scaled into 20x20 and
centred by its centre of mass in 28x28, with the odd pixel off. Each object is one of ten shapes that
are their own mirror image, as CIFAR's classes are (a mirrored car is still a car), in a random
colour, size, place and tilt, lit from a random side, over a textured background with clutter, and
shrunk to 32x32 with antialiasing and sensor noise.

    write_rendered_mnist(data_dir, train=4000, test=1000)          # data_dir/MNIST/raw/*-ubyte
    write_rendered_fashion_mnist(data_dir, train=4000, test=1000)  # the objects in gray, 28x28
    write_rendered_cifar10(data_dir, train=5000, test=1000)        # data_dir/cifar-10-batches-py/

``benchmarks/real_data.py`` trains on these and the tests use them; the same seed gives the same files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from data_files import write_cifar10_batches, write_idx

CANVAS = 64  # everything is drawn at this size, then shrunk: the shrinking antialiases the edges
FONT_FOLDERS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts"))

Points = list[tuple[float, float]]

# Pen skeletons in a unit box (x to the right, y down): for each digit, its ways of being written,
# each a list of strokes. The pen jitters every point, so no two are the same.
SKELETONS: dict[int, list[list[Points]]] = {
    0: [[[(0.5, 0.05), (0.2, 0.25), (0.18, 0.7), (0.5, 0.95), (0.8, 0.7), (0.8, 0.25), (0.52, 0.06)]]],
    1: [
        [[(0.55, 0.05), (0.5, 0.95)]],
        [[(0.3, 0.25), (0.55, 0.05), (0.5, 0.95)]],
        [[(0.3, 0.25), (0.55, 0.05), (0.5, 0.95)], [(0.3, 0.95), (0.72, 0.95)]],
    ],
    2: [
        [[(0.2, 0.3), (0.35, 0.08), (0.65, 0.06), (0.8, 0.3), (0.6, 0.58), (0.2, 0.95), (0.85, 0.93)]],
        [[(0.2, 0.25), (0.5, 0.05), (0.8, 0.25), (0.2, 0.92), (0.35, 0.85), (0.85, 0.95)]],
    ],
    3: [
        [
            [(0.2, 0.12), (0.55, 0.05), (0.78, 0.22), (0.6, 0.45), (0.4, 0.5)],
            [(0.4, 0.5), (0.75, 0.6), (0.8, 0.82), (0.5, 0.95), (0.18, 0.85)],
        ],
        [[(0.2, 0.08), (0.8, 0.08), (0.45, 0.45), (0.8, 0.65), (0.7, 0.9), (0.2, 0.88)]],
    ],
    4: [
        [[(0.6, 0.95), (0.62, 0.05), (0.15, 0.65), (0.88, 0.65)]],
        [[(0.25, 0.05), (0.18, 0.55), (0.85, 0.55)], [(0.68, 0.2), (0.65, 0.95)]],
    ],
    5: [
        [
            [(0.8, 0.06), (0.3, 0.06), (0.25, 0.45), (0.6, 0.4), (0.8, 0.62), (0.62, 0.92), (0.2, 0.86)],
        ],
        [
            [(0.3, 0.06), (0.25, 0.45), (0.6, 0.4), (0.8, 0.62), (0.62, 0.92), (0.2, 0.86)],
            [(0.3, 0.06), (0.82, 0.05)],
        ],
    ],
    6: [[[(0.7, 0.05), (0.35, 0.35), (0.22, 0.7), (0.45, 0.95), (0.75, 0.78), (0.62, 0.52), (0.3, 0.6)]]],
    7: [
        [[(0.15, 0.06), (0.85, 0.06), (0.45, 0.95)]],
        [[(0.15, 0.06), (0.85, 0.06), (0.45, 0.95)], [(0.35, 0.5), (0.78, 0.5)]],
        [[(0.15, 0.18), (0.2, 0.06), (0.85, 0.06), (0.55, 0.5), (0.45, 0.95)]],
    ],
    8: [
        [
            [
                (0.5, 0.48),
                (0.25, 0.28),
                (0.5, 0.05),
                (0.75, 0.28),
                (0.5, 0.48),
                (0.2, 0.72),
                (0.5, 0.95),
                (0.8, 0.72),
                (0.5, 0.48),
            ]
        ]
    ],
    9: [
        [[(0.75, 0.3), (0.5, 0.05), (0.25, 0.25), (0.45, 0.5), (0.75, 0.32), (0.72, 0.95)]],
        [[(0.75, 0.3), (0.5, 0.05), (0.25, 0.25), (0.45, 0.5), (0.75, 0.32), (0.65, 0.75), (0.35, 0.95)]],
    ],
}


def system_fonts() -> list[Path]:
    """The TrueType fonts installed on this machine, in a fixed order (none: PIL's own font only)."""
    found = {path for folder in FONT_FOLDERS if folder.is_dir() for path in folder.rglob("*.ttf")}
    return sorted(found)


def render_digits(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 28, 28) uint8 handwritten-style digits for ``labels``, white ink on black as in MNIST."""
    rng = np.random.default_rng(seed)
    fonts = system_fonts()
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, digit in enumerate(labels):
        pen = not fonts or rng.random() < 0.6
        glyph = _pen_digit(int(digit), rng) if pen else _font_digit(int(digit), fonts, rng)
        images[i] = _frame_like_mnist(_distort(glyph, rng), rng)
    return images


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin's corner cutting: a polyline becomes a smooth curve through its points' neighbourhood."""
    for _ in range(rounds):
        ahead, behind = points[:-1], points[1:]
        cut = np.empty((2 * len(ahead), 2))
        cut[0::2], cut[1::2] = 0.75 * ahead + 0.25 * behind, 0.25 * ahead + 0.75 * behind
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _pen_digit(digit: int, rng: np.random.Generator) -> Image.Image:
    strokes = SKELETONS[digit][rng.integers(len(SKELETONS[digit]))]
    width = int(rng.integers(3, 10))
    image = Image.new("L", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(image)
    margin, span = 0.2 * CANVAS, 0.6 * CANVAS
    for stroke in strokes:
        points = np.asarray(stroke) + rng.normal(0, 0.045, (len(stroke), 2))
        path = [(margin + span * x, margin + span * y) for x, y in _smooth(points)]
        draw.line(path, fill=255, width=width, joint="curve")
        for x, y in (path[0], path[-1]):  # round pen tips
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return image


def _font_digit(digit: int, fonts: list[Path], rng: np.random.Generator) -> Image.Image:
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size=int(rng.integers(34, 50)))
    image = Image.new("L", (CANVAS, CANVAS))
    stroke = int(rng.integers(0, 3))
    ImageDraw.Draw(image).text(
        (CANVAS / 2, CANVAS / 2),
        str(digit),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    return image


def _distort(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Rotation, slant and aspect (one affine map about the centre), then an elastic distortion."""
    angle = math.radians(rng.uniform(-14, 14))
    slant = rng.uniform(-0.35, 0.35)
    sx, sy = rng.uniform(0.75, 1.15), rng.uniform(0.85, 1.15)
    forward = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    forward = forward @ np.array([[1.0, slant], [0.0, 1.0]]) @ np.diag([sx, sy])
    inverse = np.linalg.inv(forward)  # PIL maps each output pixel back to its source
    centre = np.array([CANVAS / 2, CANVAS / 2])
    offset = centre - inverse @ centre
    coefficients = (*inverse[0], offset[0], *inverse[1], offset[1])
    pixels = np.asarray(image.transform(image.size, Image.Transform.AFFINE, coefficients, Image.BILINEAR))
    amplitude = rng.uniform(0.5, 1.2) * CANVAS / 28  # pixels of 28x28 the strokes wander, typically
    dy, dx = (_smooth_field(pixels.shape, 0.12 * CANVAS, rng) * amplitude for _ in "yx")
    rows, cols = np.meshgrid(np.arange(CANVAS), np.arange(CANVAS), indexing="ij")
    warped = ndimage.map_coordinates(pixels.astype(np.float64), [rows + dy, cols + dx], order=1)
    return np.clip(warped, 0, 255)


def _smooth_field(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Random noise blurred by ``sigma`` pixels, scaled to a standard deviation of 1."""
    field = ndimage.gaussian_filter(rng.normal(0, 1, shape), sigma)
    return field / max(float(field.std()), 1e-12)


def _frame_like_mnist(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST's framing: the ink's bounding box scaled to fit 20x20 (aspect kept), pasted in 28x28 so
    its centre of mass is at the centre (give or take a pixel), at the ink's own brightness."""
    rows, cols = np.nonzero(ink > 30)
    if len(rows) == 0:  # an elastic pull can, rarely, push the ink off the canvas
        return np.zeros((28, 28), dtype=np.uint8)
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20 / max(box.shape)
    height, width = max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale))
    small = np.asarray(Image.fromarray(box.astype(np.uint8)).resize((width, height), Image.LANCZOS))
    canvas = np.zeros((28, 28))
    top, left = (28 - height) // 2, (28 - width) // 2
    canvas[top : top + height, left : left + width] = small
    mass_row, mass_col = ndimage.center_of_mass(canvas)
    shift = (round(13.5 - mass_row + rng.normal(0, 0.7)), round(13.5 - mass_col + rng.normal(0, 0.7)))
    canvas = ndimage.shift(canvas, shift, order=0)
    canvas *= rng.uniform(0.75, 1.0) * 255 / max(canvas.max(), 1)
    speckle = rng.random((28, 28)) < 0.004  # the odd stray pixel of a scan
    canvas[speckle] = rng.uniform(40, 200, int(speckle.sum()))
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _balanced_labels(count: int, seed: int) -> np.ndarray:
    """``count`` labels, each class as often as the next, in a seeded random order."""
    return np.random.default_rng(seed).permutation(np.arange(count) % 10).astype(np.uint8)


def _write_idx_set(
    raw: Path, render: Callable[[np.ndarray, int], np.ndarray], sizes: tuple[int, int], seed: int
) -> Path:
    """The four idx files of an MNIST-format set: the test images drawn with other random choices."""
    for prefix, count, offset in (("train", sizes[0], 0), ("t10k", sizes[1], 1)):
        labels = _balanced_labels(count, seed + offset)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", render(labels, seed + 1000 + offset))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def write_rendered_mnist(data_dir: Path, train: int = 4000, test: int = 1000, seed: int = 0) -> Path:
    """Rendered digits as MNIST's four idx files under ``data_dir/MNIST/raw``."""
    return _write_idx_set(data_dir / "MNIST" / "raw", render_digits, (train, test), seed)


def render_gray_objects(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 28, 28) uint8: ``render_objects`` in gray at Fashion-MNIST's size, so that the shape, not
    the colour, tells the class."""
    colour = render_objects(labels, seed)
    return np.stack(
        [np.asarray(Image.fromarray(image).convert("L").resize((28, 28), Image.LANCZOS)) for image in colour]
    )


def write_rendered_fashion_mnist(data_dir: Path, train: int = 4000, test: int = 1000, seed: int = 0) -> Path:
    """Rendered gray objects as Fashion-MNIST's four idx files under ``data_dir/FashionMNIST/raw``."""
    return _write_idx_set(data_dir / "FashionMNIST" / "raw", render_gray_objects, (train, test), seed)


# The objects: ten shapes, each its own mirror image (left-right), as a polygon or a mask in a unit
# frame centred on the origin (y down). Tilts stay within 15 degrees, so a plus never becomes an X.
def _regular(corners: int, radius: float = 1.0, start: float = -math.pi / 2) -> Points:
    step = 2 * math.pi / corners
    return [
        (radius * math.cos(start + k * step), radius * math.sin(start + k * step)) for k in range(corners)
    ]


def _star() -> Points:
    outer, inner = _regular(5), _regular(5, 0.42, -math.pi / 2 + math.pi / 5)
    return [point for pair in zip(outer, inner, strict=True) for point in pair]


def _plus(arm: float = 0.34) -> Points:
    a = arm
    return [
        (-a, -1),
        (a, -1),
        (a, -a),
        (1, -a),
        (1, a),
        (a, a),
        (a, 1),
        (-a, 1),
        (-a, a),
        (-1, a),
        (-1, -a),
        (-a, -a),
    ]


def _turned(points: Points, angle: float) -> Points:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(x * cos - y * sin, x * sin + y * cos) for x, y in points]


def _heart() -> Points:
    t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
    x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return list(zip(x / 17, (y + 2) / 17, strict=True))


SHAPES: dict[str, Callable[[], list[Points]]] = {  # each: the outline(s); a second one is a hole
    "disc": lambda: [_regular(48)],
    "ring": lambda: [_regular(48), _regular(48, 0.55)],
    "square": lambda: [_regular(4, 1.2, -math.pi / 4)],
    "triangle": lambda: [[(0.0, -1.0), (1.0, 0.8), (-1.0, 0.8)]],
    "star": lambda: [_star()],
    "plus": lambda: [_plus()],
    "heart": lambda: [_heart()],
    "house": lambda: [
        [(0.0, -1.0), (0.9, -0.2), (0.7, -0.2), (0.7, 0.9), (-0.7, 0.9), (-0.7, -0.2), (-0.9, -0.2)]
    ],
    "cross": lambda: [_turned(_plus(0.3), math.pi / 4)],
    "hourglass": lambda: [[(-0.8, -1.0), (0.8, -1.0), (0.12, 0.0), (0.8, 1.0), (-0.8, 1.0), (-0.12, 0.0)]],
}
SHAPE_NAMES = tuple(SHAPES)


def _colour(rng: np.random.Generator, saturated: bool) -> np.ndarray:
    hue = rng.random()
    saturation, value = (rng.uniform(0.5, 1), rng.uniform(0.55, 1)) if saturated else rng.uniform(0, 0.5, 2)
    rgb = [min(1.0, max(0.0, abs((hue * 6 + k) % 6 - 3) - 1)) for k in (0, 4, 2)]
    return 255 * value * (1 - saturation + saturation * np.asarray(rgb))


def _background(rng: np.random.Generator) -> np.ndarray:
    """A textured (CANVAS, CANVAS, 3) float background: a blotchy colour field, stripes, a checker
    board or a gradient, with fine grain."""
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
    first, second = _colour(rng, saturated=False), _colour(rng, saturated=rng.random() < 0.5)
    kind = rng.integers(4)
    if kind == 0:
        coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
        return np.asarray(Image.fromarray(coarse).resize((CANVAS, CANVAS), Image.BICUBIC), dtype=np.float64)
    if kind == 1:
        angle, frequency = rng.uniform(0, math.pi), rng.uniform(6, 20)
        mix = 0.5 + 0.5 * np.sin(
            frequency * (xs * math.cos(angle) + ys * math.sin(angle)) + rng.uniform(0, 6)
        )
    elif kind == 2:
        cell = int(rng.integers(6, 16))
        mix = ((np.arange(CANVAS)[:, None] // cell + np.arange(CANVAS)[None, :] // cell) % 2).astype(float)
    else:
        angle = rng.uniform(0, 2 * math.pi)
        mix = np.clip(0.5 + (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle), 0, 1)
    field = mix[..., None] * first + (1 - mix[..., None]) * second
    return field + rng.normal(0, 8, field.shape)


def _object_mask(name: str, rng: np.random.Generator) -> Image.Image:
    """The shape's mask at a random size, place and tilt (within 15 degrees), as an L image."""
    radius = rng.uniform(0.16, 0.42) * CANVAS
    centre = CANVAS / 2 + rng.uniform(-0.2, 0.2, 2) * CANVAS  # a large object near an edge is cut off
    tilt = math.radians(rng.uniform(-15, 15))
    stretch = rng.uniform(0.75, 1.3)
    mask = Image.new("L", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(mask)
    for k, outline in enumerate(SHAPES[name]()):  # the first outline fills, a second one cuts a hole
        turned = _turned([(x * stretch, y) for x, y in outline], tilt)
        draw.polygon(
            [(centre[0] + radius * x, centre[1] + radius * y) for x, y in turned], fill=0 if k else 255
        )
    return mask


def _clutter(scene: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``scene`` with ``count`` small blobs of other things painted over it."""
    for _ in range(count):
        blob = Image.new("L", (CANVAS, CANVAS))
        (x, y), size = rng.uniform(0, CANVAS, 2), rng.uniform(3, 10)
        ImageDraw.Draw(blob).ellipse((x - size, y - size * 0.6, x + size, y + size * 0.6), 255)
        alpha = np.asarray(blob, dtype=np.float64)[..., None] / 255
        scene = alpha * _colour(rng, saturated=rng.random() < 0.5) + (1 - alpha) * scene
    return scene


def render_objects(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 32, 32, 3) uint8 photographs-to-be of ``SHAPE_NAMES[label]``: a lit, coloured shape over a
    textured background with a few clutter blobs, shrunk to 32x32, with sensor noise."""
    rng = np.random.default_rng(seed)
    images = np.zeros((len(labels), 32, 32, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
    for i, label in enumerate(labels):
        scene = _background(rng)
        scene = _clutter(scene, int(rng.integers(0, 4)), rng)  # behind the object
        mask = _object_mask(SHAPE_NAMES[int(label)], rng).filter(ImageFilter.GaussianBlur(0.8))
        angle = rng.uniform(0, 2 * math.pi)
        light = 0.6 + 0.7 * ((xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle) + 0.5)
        body = _colour(rng, saturated=rng.random() < 0.8) * light[..., None]  # some dull, like the ground
        alpha = np.asarray(mask, dtype=np.float64)[..., None] / 255
        scene = alpha * body + (1 - alpha) * scene
        scene = _clutter(scene, int(rng.random() < 0.3), rng)  # in front: the object partly hidden
        small = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).resize((32, 32), Image.LANCZOS)
        noisy = np.asarray(small, dtype=np.float64) + rng.normal(0, rng.uniform(2, 7), (32, 32, 3))
        images[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images


def write_rendered_cifar10(data_dir: Path, train: int = 5000, test: int = 1000, seed: int = 0) -> Path:
    """Rendered objects as CIFAR-10's python batches under ``data_dir/cifar-10-batches-py``: five
    training batches of ``train / 5`` images, the test batch, and ``SHAPE_NAMES`` as the label names."""

    def rows(count: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
        labels = _balanced_labels(count, seed + offset)
        images = render_objects(labels, seed=seed + 1000 + offset)
        return images.transpose(0, 3, 1, 2).reshape(count, 3072), labels  # planes R, G, B; rows major

    per_batch = train // 5
    batches = [rows(per_batch, 10 + k) for k in range(5)]
    return write_cifar10_batches(data_dir, batches, rows(test, 1), names=SHAPE_NAMES)
