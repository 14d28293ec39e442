"""What `deepnets.predict` takes as images: file paths, folders of them and uint8 arrays, each
turned into labelled pixels or the reason a file cannot be read."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from deepnets.data.images import has_image_extension, read_image

ALLOWED = (
    "image file paths (or folders of them), uint8 images [height, width, 3] or batches "
    "[n, height, width, 3], or a list of these"
)


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """One image to classify: its label, and its pixels (uint8 [h, w, 3]) or why there are none."""

    label: str
    pixels: Any = None
    error: str | None = None


def image_files(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The image files `paths` name, in order: files (and paths that do not exist) as given,
    folders searched (sorted, recursively, hidden files and folders skipped)."""
    found = []
    for path in map(os.fspath, paths):
        if not os.path.isdir(path):
            found.append(path)
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found += [
                os.path.join(folder, name)
                for name in sorted(names)
                if not name.startswith(".") and has_image_extension(name)
            ]
    return found


def image_inputs(images: Any) -> list[ImageInput]:
    """Each image of `images` (see `deepnets.predict`), in order, read or with its error.

    Raises:
        ValueError: an array that is not uint8 [h, w, 3] or [n, h, w, 3] (a program's mistake,
            unlike a bad file).
    """
    if _is_path(images):
        return [_read(path) for path in image_files([images])]
    if isinstance(images, (np.ndarray, tf.Tensor)):
        return _array_inputs(images, "images")
    if not isinstance(images, Iterable) or isinstance(images, (bytes, dict)):
        raise ValueError(f"`images`={images!r:.80} is not supported: give {ALLOWED}.")
    inputs = []
    for i, item in enumerate(images):
        if _is_path(item):
            inputs += [_read(path) for path in image_files([item])]
        else:
            inputs += _array_inputs(item, f"images[{i}]")
    return inputs


def _is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def _array_inputs(item: Any, label: str) -> list[ImageInput]:
    array = np.asarray(item)
    if array.dtype != np.uint8 or array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(
            f"`{label}` is an array of dtype {array.dtype} and shape {array.shape}: give {ALLOWED} "
            "(an image file's pixels as deepnets reads them: deepnets.data.images.read_image)."
        )
    if array.ndim == 3:
        return [ImageInput(label, array)]
    return [ImageInput(f"{label}[{j}]", image) for j, image in enumerate(array)]


def _read(path: str) -> ImageInput:
    if not os.path.isfile(path):
        return ImageInput(path, error="no such file or folder")
    try:
        return ImageInput(path, read_image(path))
    except (tf.errors.OpError, OSError) as err:
        return ImageInput(path, error=_reason(err))


def _reason(err: BaseException) -> str:
    # TF messages start with "{{function_node ...}}" and end with "[Op:...]": keep the middle.
    text = (getattr(err, "message", None) or str(err)).strip()
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text.splitlines()[0] if text else "")
    text = re.sub(r"\s*\[Op:\w+\].*$", "", text).strip()
    return text or type(err).__name__
