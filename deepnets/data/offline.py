"""shapes10: an offline image-classification dataset generated from code.

shapes10 ships with deepnets so that a fresh machine without network access or downloaded data
can still run a full training job. It has the shape of CIFAR-10: 32x32 RGB uint8 images in ten
classes, a train split of 10,000 and a test split of 2,000 examples, each split exactly balanced.

Each image is one procedurally drawn shape or texture (see `SHAPES10_CLASS_NAMES`) with a random
position, size, rotation, stripe period, foreground and background colour, plus additive
pixel noise. Colour carries no information about the class and the shapes move around, so a
linear model on pixels does poorly while a small CNN learns it within a few minutes on a CPU.

The data is a pure function of a fixed seed per split: every call, on every machine, returns the
same arrays. Drawing is vectorized numpy (about a second for the train split); the arrays are
cached in-process, so repeated calls are free, and on disk in the deepnets cache directory
(`deepnets.cache`), keyed by the drawing code, the seed and numpy's version, so that every new
process (each run, each test subprocess) reads them in milliseconds instead of drawing them.

Usage:

    images, labels = shapes10_arrays("train")  # uint8 [10000, 32, 32, 3], int64 [10000]
    images, labels, masks = shapes10_sample(100, seed=0)  # and where each shape is
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import tempfile
from typing import NamedTuple

import numpy as np

from deepnets.cache import cache_directory
from deepnets.data import shapes10_drawing
from deepnets.data.shapes10_drawing import DRAWERS, SIZE

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
SHAPES10_IMAGE_SHAPE: tuple[int, int, int] = (SIZE, SIZE, 3)
SHAPES10_SPLIT_SIZES: dict[str, int] = {"train": 10_000, "test": 2_000}
# Per-channel mean and std of the train split in 0..1 scale; a test recomputes them.
SHAPES10_MEAN: tuple[float, float, float] = (0.4971, 0.4960, 0.5020)
SHAPES10_STD: tuple[float, float, float] = (0.2930, 0.2929, 0.2921)

_SPLIT_SEEDS = {"train": 1_000_003, "test": 2_000_003}


class Shapes10Sample(NamedTuple):
    """A shapes10 sample with the place of each shape (see `shapes10_sample`)."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


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
    images, labels, _ = shapes10_sample(num_examples, seed)
    return images, labels


def shapes10_sample(num_examples: int, seed: int) -> Shapes10Sample:
    """`generate_shapes10`'s images and labels (the same for the same seed), with the masks
    of where each shape is: what a model that found the shape should look at.

    Args:
        num_examples: Number of images, as for `generate_shapes10`.
        seed: Seed of the numpy generator.

    Returns:
        (images, labels, masks); masks float32 [num_examples, 32, 32] in 0..1: a solid shape's
        anti-aliased coverage, a texture's whole box, the blobs themselves.
    """
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    rng = np.random.default_rng(seed)
    num_classes = len(SHAPES10_CLASS_NAMES)
    labels = rng.permutation(np.arange(num_examples) % num_classes).astype(np.int64)

    ink = np.empty((num_examples, SIZE, SIZE), dtype=np.float32)
    regions = np.empty_like(ink)
    for label, draw in enumerate(DRAWERS):
        indices = np.flatnonzero(labels == label)
        if indices.size:
            ink[indices], regions[indices] = draw(rng, indices.size)

    # Every channel of the foreground differs from the background by 0.2..0.8 (wrapping around),
    # so the shape is always visible but its colour says nothing about the class.
    background = rng.uniform(0.0, 1.0, size=(num_examples, 3, 1, 1)).astype(np.float32)
    shift = rng.uniform(0.2, 0.8, size=(num_examples, 3, 1, 1)).astype(np.float32)
    foreground = (background + shift) % 1.0
    noise_std = rng.uniform(0.03, 0.18, size=(num_examples, 1, 1, 1)).astype(np.float32)

    # Composed channels-first, in place and in 0..255 scale: this part dominates the run time.
    # The noise is uniform with standard deviation `noise_std` (cheaper to draw than Gaussian).
    images = rng.random((num_examples, 3, SIZE, SIZE), dtype=np.float32)
    images -= 0.5
    images *= 255.0 * np.sqrt(12.0, dtype=np.float32) * noise_std
    images += 255.0 * background
    images += (255.0 * (foreground - background)) * ink[:, None]
    np.clip(images, 0.0, 255.0, out=images)
    np.rint(images, out=images)
    images = np.ascontiguousarray(images.astype(np.uint8).transpose(0, 2, 3, 1))
    return Shapes10Sample(images, labels, regions)


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
    path = _disk_cache_path(split)
    try:
        if path is None:
            raise OSError("no source to key the cache with")
        with np.load(path) as stored:
            images, labels = stored["images"], stored["labels"]
    except (OSError, ValueError, KeyError):  # absent, or damaged: drawn again and rewritten
        images, labels = generate_shapes10(SHAPES10_SPLIT_SIZES[split], _SPLIT_SEEDS[split])
        if path is not None:
            _write_disk_cache(path, images, labels)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _disk_cache_path(split: str) -> str | None:
    """`<cache dir>/shapes10-<split>-<hash>.npz`; the hash covers everything that decides the
    arrays (the drawing code, the split's size and seed, numpy's version), so a change to any of
    them draws the split again. None where the source cannot be read (no cache then)."""
    try:
        sources = [inspect.getsource(shapes10_drawing), inspect.getsource(shapes10_sample)]
    except (OSError, TypeError):
        return None
    key = "\n".join(
        sources + [f"{SHAPES10_SPLIT_SIZES[split]} {_SPLIT_SEEDS[split]} {np.__version__}"]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(cache_directory(), f"shapes10-{split}-{digest}.npz")


def _write_disk_cache(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes the arrays atomically (a reader never sees half a file); a read-only or full disk
    only costs the next process the drawing."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=os.path.dirname(path), suffix=".npz", delete=False
        ) as f:
            np.savez(f, images=images, labels=labels)
        os.replace(f.name, path)
    except OSError:
        pass
