"""How shapes10's ten classes are drawn: one function per class, each giving its shapes' masks.

A drawer takes the numpy generator and a count n, and returns (ink, region), each float32
[n, 32, 32] in 0..1: the pixels painted in the foreground colour, and where the shape is (the
same for a solid shape; a texture's whole box, the gaps between its stripes included). The
order of the random draws is the dataset: a change to it changes every image of a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIZE = 32  # shapes10's image height and width
_BLOB_GRID = 6

Mask = np.ndarray  # float32 [n, 32, 32], 1.0 = foreground, 0.0 = background
Drawn = tuple[Mask, Mask]


def _pixel_grid() -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, each float32 [1, 32, 32]."""
    centres = np.arange(SIZE, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    return yy[None], xx[None]


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n floats in [low, high), shaped [n, 1, 1] to broadcast over the pixel grid."""
    return rng.uniform(low, high, size=(n, 1, 1)).astype(np.float32)


def _offsets(rng: np.random.Generator, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (dy, dx) from a random centre that keeps `extent` pixels inside the image."""
    n = extent.shape[0]
    low = np.minimum(extent, SIZE / 2)
    cy = low + _uniform(rng, 0.0, 1.0, n) * (SIZE - 2 * low)
    cx = low + _uniform(rng, 0.0, 1.0, n) * (SIZE - 2 * low)
    yy, xx = _pixel_grid()
    return yy - cy, xx - cx


def _rotate(dy: np.ndarray, dx: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u, v) of the offsets in a frame rotated by `angle` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    return cos * dx + sin * dy, cos * dy - sin * dx


def _coverage(signed_distance: np.ndarray) -> Mask:
    """Anti-aliased fill: 1 inside (negative distance), 0 outside, linear across one pixel."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def _soft_sign(wave: np.ndarray) -> Mask:
    """Maps a wave in [-1, 1] to a mask with short ramps between the 0 and 1 plateaus."""
    return np.clip(0.5 + 2.0 * wave, 0.0, 1.0)


def _solid(mask: Mask) -> Drawn:
    return mask, mask


def _disk(rng: np.random.Generator, n: int) -> Drawn:
    radius = _uniform(rng, 5.0, 12.0, n)
    dy, dx = _offsets(rng, radius)
    return _solid(_coverage(np.hypot(dy, dx) - radius))


def _ring(rng: np.random.Generator, n: int) -> Drawn:
    outer = _uniform(rng, 7.0, 13.0, n)
    half_width = _uniform(rng, 1.0, 2.0, n)
    dy, dx = _offsets(rng, outer)
    return _solid(_coverage(np.abs(np.hypot(dy, dx) - (outer - half_width)) - half_width))


def _square(rng: np.random.Generator, n: int) -> Drawn:
    half_side = _uniform(rng, 4.5, 10.0, n)
    dy, dx = _offsets(rng, half_side * np.sqrt(2.0))
    u, v = _rotate(dy, dx, _uniform(rng, 0.0, np.pi / 2, n))
    return _solid(_coverage(np.maximum(np.abs(u), np.abs(v)) - half_side))


def _triangle(rng: np.random.Generator, n: int) -> Drawn:
    circumradius = _uniform(rng, 6.5, 13.0, n)
    dy, dx = _offsets(rng, circumradius)
    angle = _uniform(rng, 0.0, 2 * np.pi / 3, n)
    # An equilateral triangle is the intersection of three half-planes at the inradius (R / 2).
    edges = [
        dx * np.cos(angle + k * 2 * np.pi / 3) + dy * np.sin(angle + k * 2 * np.pi / 3)
        for k in range(3)
    ]
    return _solid(_coverage(np.maximum.reduce(edges) - circumradius / 2))


def _plus(rng: np.random.Generator, n: int) -> Drawn:
    arm = _uniform(rng, 6.0, 13.0, n)
    half_width = _uniform(rng, 1.2, 2.6, n)
    dy, dx = _offsets(rng, arm)
    u, v = _rotate(dy, dx, _uniform(rng, -np.pi / 8, np.pi / 8, n))
    horizontal_bar = np.maximum(np.abs(u) - arm, np.abs(v) - half_width)
    vertical_bar = np.maximum(np.abs(u) - half_width, np.abs(v) - arm)
    return _solid(_coverage(np.minimum(horizontal_bar, vertical_bar)))


def _textured_box(
    rng: np.random.Generator, n: int, texture: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> Drawn:
    """A random rectangle filled with `texture(dy, dx)` (a [n, 32, 32] mask in [0, 1])."""
    half_height = _uniform(rng, 7.0, 14.0, n)
    half_width = _uniform(rng, 7.0, 14.0, n)
    dy, dx = _offsets(rng, np.maximum(half_height, half_width))
    box = _coverage(np.maximum(np.abs(dy) - half_height, np.abs(dx) - half_width))
    return box * texture(dy, dx), box


def _stripes(rng: np.random.Generator, n: int, direction: np.ndarray) -> Drawn:
    """Stripes whose intensity varies along `direction` (radians, [n, 1, 1])."""
    period = _uniform(rng, 4.0, 8.0, n)
    phase = _uniform(rng, 0.0, 2 * np.pi, n)

    def texture(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        along = dx * np.cos(direction) + dy * np.sin(direction)
        return _soft_sign(np.sin(2 * np.pi * along / period + phase))

    return _textured_box(rng, n, texture)


def _horizontal_stripes(rng: np.random.Generator, n: int) -> Drawn:
    return _stripes(rng, n, np.pi / 2 + _uniform(rng, -0.2, 0.2, n))


def _vertical_stripes(rng: np.random.Generator, n: int) -> Drawn:
    return _stripes(rng, n, _uniform(rng, -0.2, 0.2, n))


def _diagonal_stripes(rng: np.random.Generator, n: int) -> Drawn:
    side = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, 1, 1))
    return _stripes(rng, n, side * np.pi / 4 + _uniform(rng, -0.2, 0.2, n))


def _checkerboard(rng: np.random.Generator, n: int) -> Drawn:
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


def _blobs(rng: np.random.Generator, n: int) -> Drawn:
    """Smooth random blobs: a coarse random field, upsampled and thresholded at ~40-60%."""
    coarse = rng.standard_normal((n, _BLOB_GRID, _BLOB_GRID), dtype=np.float32)
    interp = _interpolation_matrix(SIZE, _BLOB_GRID)
    field = np.einsum("ij,njk,lk->nil", interp, coarse, interp)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-6
    ranked = np.sort(field.reshape(n, -1), axis=1)
    rank = (rng.uniform(0.4, 0.6, size=n) * SIZE * SIZE).astype(np.int64)
    threshold = ranked[np.arange(n), rank][:, None, None]
    return _solid(_soft_sign(field - threshold))


DRAWERS: tuple[Callable[[np.random.Generator, int], Drawn], ...] = (
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
