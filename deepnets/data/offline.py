"""shapes10: an offline image-classification dataset generated from code.

shapes10 ships with deepnets so that a fresh machine without network access or downloaded data
can still run a full training job. It has the shape of CIFAR-10: 32x32 RGB uint8 images in ten
classes, a train split of 10,000 and a test split of 2,000 examples, each split exactly balanced.

Each image is one procedurally drawn shape or texture (see `SHAPES10_CLASS_NAMES`) with a random
position, size, rotation, stripe period, foreground and background colour, plus additive
pixel noise. Colour carries no information about the class and the shapes move around, so a
linear model on pixels does poorly while a small CNN learns it within a few minutes on a CPU.

The data is a pure function of a fixed seed per split: every call, on every machine, returns the
same arrays. Drawing is vectorized numpy (about a second for the train split) and the arrays are
cached in-process, so repeated calls are free.

Usage:

    images, labels = shapes10_arrays("train")  # uint8 [10000, 32, 32, 3], int64 [10000]
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

SHAPES10 = "shapes10"
OFFLINE_DATASETS: tuple[str, ...] = (SHAPES10,)

SHAPES10_CLASS_NAMES: tuple[str, ...] = (
    "disk",
    "ring",
    "square",
    "triangle",
    "plus",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
    "blobs",
)
SHAPES10_IMAGE_SHAPE: tuple[int, int, int] = (32, 32, 3)
SHAPES10_SPLIT_SIZES: dict[str, int] = {"train": 10_000, "test": 2_000}
# Per-channel mean and std of the train split in 0..1 scale; a test recomputes them.
SHAPES10_MEAN: tuple[float, float, float] = (0.4971, 0.4960, 0.5020)
SHAPES10_STD: tuple[float, float, float] = (0.2930, 0.2929, 0.2921)

_SPLIT_SEEDS = {"train": 1_000_003, "test": 2_000_003}
_SIZE = SHAPES10_IMAGE_SHAPE[0]
_BLOB_GRID = 6

_Mask = np.ndarray  # float32 [n, 32, 32], 1.0 = foreground, 0.0 = background


def _pixel_grid() -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, each float32 [1, 32, 32]."""
    centres = np.arange(_SIZE, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    return yy[None], xx[None]


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n floats in [low, high), shaped [n, 1, 1] to broadcast over the pixel grid."""
    return rng.uniform(low, high, size=(n, 1, 1)).astype(np.float32)


def _offsets(rng: np.random.Generator, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (dy, dx) from a random centre that keeps `extent` pixels inside the image."""
    n = extent.shape[0]
    low = np.minimum(extent, _SIZE / 2)
    cy = low + _uniform(rng, 0.0, 1.0, n) * (_SIZE - 2 * low)
    cx = low + _uniform(rng, 0.0, 1.0, n) * (_SIZE - 2 * low)
    yy, xx = _pixel_grid()
    return yy - cy, xx - cx


def _rotate(dy: np.ndarray, dx: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u, v) of the offsets in a frame rotated by `angle` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    return cos * dx + sin * dy, cos * dy - sin * dx


def _coverage(signed_distance: np.ndarray) -> _Mask:
    """Anti-aliased fill: 1 inside (negative distance), 0 outside, linear across one pixel."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def _soft_sign(wave: np.ndarray) -> _Mask:
    """Maps a wave in [-1, 1] to a mask with short ramps between the 0 and 1 plateaus."""
    return np.clip(0.5 + 2.0 * wave, 0.0, 1.0)


def _disk(rng: np.random.Generator, n: int) -> _Mask:
    radius = _uniform(rng, 5.0, 12.0, n)
    dy, dx = _offsets(rng, radius)
    return _coverage(np.hypot(dy, dx) - radius)


def _ring(rng: np.random.Generator, n: int) -> _Mask:
    outer = _uniform(rng, 7.0, 13.0, n)
    half_width = _uniform(rng, 1.0, 2.0, n)
    dy, dx = _offsets(rng, outer)
    return _coverage(np.abs(np.hypot(dy, dx) - (outer - half_width)) - half_width)


def _square(rng: np.random.Generator, n: int) -> _Mask:
    half_side = _uniform(rng, 4.5, 10.0, n)
    dy, dx = _offsets(rng, half_side * np.sqrt(2.0))
    u, v = _rotate(dy, dx, _uniform(rng, 0.0, np.pi / 2, n))
    return _coverage(np.maximum(np.abs(u), np.abs(v)) - half_side)


def _triangle(rng: np.random.Generator, n: int) -> _Mask:
    circumradius = _uniform(rng, 6.5, 13.0, n)
    dy, dx = _offsets(rng, circumradius)
    angle = _uniform(rng, 0.0, 2 * np.pi / 3, n)
    # An equilateral triangle is the intersection of three half-planes at the inradius (R / 2).
    edges = [
        dx * np.cos(angle + k * 2 * np.pi / 3) + dy * np.sin(angle + k * 2 * np.pi / 3)
        for k in range(3)
    ]
    return _coverage(np.maximum.reduce(edges) - circumradius / 2)


def _plus(rng: np.random.Generator, n: int) -> _Mask:
    arm = _uniform(rng, 6.0, 13.0, n)
    half_width = _uniform(rng, 1.2, 2.6, n)
    dy, dx = _offsets(rng, arm)
    u, v = _rotate(dy, dx, _uniform(rng, -np.pi / 8, np.pi / 8, n))
    horizontal_bar = np.maximum(np.abs(u) - arm, np.abs(v) - half_width)
    vertical_bar = np.maximum(np.abs(u) - half_width, np.abs(v) - arm)
    return _coverage(np.minimum(horizontal_bar, vertical_bar))


def _textured_box(
    rng: np.random.Generator, n: int, texture: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> _Mask:
    """A random rectangle filled with `texture(dy, dx)`, a [n, 32, 32] mask in [0, 1]."""
    half_height = _uniform(rng, 7.0, 14.0, n)
    half_width = _uniform(rng, 7.0, 14.0, n)
    dy, dx = _offsets(rng, np.maximum(half_height, half_width))
    box = _coverage(np.maximum(np.abs(dy) - half_height, np.abs(dx) - half_width))
    return box * texture(dy, dx)


def _stripes(rng: np.random.Generator, n: int, direction: np.ndarray) -> _Mask:
    """Stripes whose intensity varies along `direction` (radians, [n, 1, 1])."""
    period = _uniform(rng, 4.0, 8.0, n)
    phase = _uniform(rng, 0.0, 2 * np.pi, n)

    def texture(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        along = dx * np.cos(direction) + dy * np.sin(direction)
        return _soft_sign(np.sin(2 * np.pi * along / period + phase))

    return _textured_box(rng, n, texture)


def _horizontal_stripes(rng: np.random.Generator, n: int) -> _Mask:
    return _stripes(rng, n, np.pi / 2 + _uniform(rng, -0.2, 0.2, n))


def _vertical_stripes(rng: np.random.Generator, n: int) -> _Mask:
    return _stripes(rng, n, _uniform(rng, -0.2, 0.2, n))


def _diagonal_stripes(rng: np.random.Generator, n: int) -> _Mask:
    side = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, 1, 1))
    return _stripes(rng, n, side * np.pi / 4 + _uniform(rng, -0.2, 0.2, n))


def _checkerboard(rng: np.random.Generator, n: int) -> _Mask:
    cell = _uniform(rng, 2.5, 5.0, n)
    angle = _uniform(rng, -0.25, 0.25, n)
    phase_u = _uniform(rng, 0.0, 2 * np.pi, n)
    phase_v = _uniform(rng, 0.0, 2 * np.pi, n)

    def texture(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        u, v = _rotate(dy, dx, angle)
        return _soft_sign(np.sin(np.pi * u / cell + phase_u) * np.sin(np.pi * v / cell + phase_v))

    return _textured_box(rng, n, texture)


def _interpolation_matrix(size: int, grid: int) -> np.ndarray:
    """[size, grid] matrix that linearly interpolates `grid` samples onto `size` pixels."""
    positions = np.linspace(0.0, grid - 1.0, size)
    weights = np.maximum(0.0, 1.0 - np.abs(positions[:, None] - np.arange(grid)[None, :]))
    return weights.astype(np.float32)


def _blobs(rng: np.random.Generator, n: int) -> _Mask:
    """Smooth random blobs: a coarse random field, upsampled and thresholded at ~40-60%."""
    coarse = rng.standard_normal((n, _BLOB_GRID, _BLOB_GRID), dtype=np.float32)
    interp = _interpolation_matrix(_SIZE, _BLOB_GRID)
    field = np.einsum("ij,njk,lk->nil", interp, coarse, interp)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-6
    ranked = np.sort(field.reshape(n, -1), axis=1)
    rank = (rng.uniform(0.4, 0.6, size=n) * _SIZE * _SIZE).astype(np.int64)
    threshold = ranked[np.arange(n), rank][:, None, None]
    return _soft_sign(field - threshold)


_DRAWERS: tuple[Callable[[np.random.Generator, int], _Mask], ...] = (
    _disk,
    _ring,
    _square,
    _triangle,
    _plus,
    _horizontal_stripes,
    _vertical_stripes,
    _diagonal_stripes,
    _checkerboard,
    _blobs,
)


def generate_shapes10(num_examples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws a fresh, class-balanced shapes10 sample (uncached; see `shapes10_arrays`).

    Args:
        num_examples: Number of images. Classes get `num_examples // 10` images each, and the
            first `num_examples % 10` classes one more.
        seed: Seed of the numpy generator; the same seed gives the same arrays.

    Returns:
        (images, labels): uint8 [num_examples, 32, 32, 3] and int64 [num_examples], in a random
        class order.
    """
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    rng = np.random.default_rng(seed)
    num_classes = len(SHAPES10_CLASS_NAMES)
    labels = rng.permutation(np.arange(num_examples) % num_classes).astype(np.int64)

    masks = np.empty((num_examples, _SIZE, _SIZE), dtype=np.float32)
    for label, draw in enumerate(_DRAWERS):
        indices = np.flatnonzero(labels == label)
        if indices.size:
            masks[indices] = draw(rng, indices.size)

    # Every channel of the foreground differs from the background by 0.2..0.8 (wrapping around),
    # so the shape is always visible but its colour says nothing about the class.
    background = rng.uniform(0.0, 1.0, size=(num_examples, 3, 1, 1)).astype(np.float32)
    shift = rng.uniform(0.2, 0.8, size=(num_examples, 3, 1, 1)).astype(np.float32)
    foreground = (background + shift) % 1.0
    noise_std = rng.uniform(0.03, 0.18, size=(num_examples, 1, 1, 1)).astype(np.float32)

    # Composed channels-first, in place and in 0..255 scale: this part dominates the run time.
    # The noise is uniform with standard deviation `noise_std` (cheaper to draw than Gaussian).
    images = rng.random((num_examples, 3, _SIZE, _SIZE), dtype=np.float32)
    images -= 0.5
    images *= 255.0 * np.sqrt(12.0, dtype=np.float32) * noise_std
    images += 255.0 * background
    images += (255.0 * (foreground - background)) * masks[:, None]
    np.clip(images, 0.0, 255.0, out=images)
    np.rint(images, out=images)
    return np.ascontiguousarray(images.astype(np.uint8).transpose(0, 2, 3, 1)), labels


@functools.cache
def shapes10_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The shapes10 split as numpy arrays, identical on every call (cached, read-only).

    Args:
        split: "train" (10,000 examples) or "test" (2,000 examples).

    Returns:
        (images, labels): read-only uint8 [N, 32, 32, 3] and int64 [N].

    Raises:
        ValueError: for an unknown split.
    """
    if split not in SHAPES10_SPLIT_SIZES:
        raise ValueError(f"shapes10 has splits {sorted(SHAPES10_SPLIT_SIZES)}, got split {split!r}")
    images, labels = generate_shapes10(SHAPES10_SPLIT_SIZES[split], _SPLIT_SEEDS[split])
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
