"""Test-time augmentation: score an image by the mean probability over a few views of it.

`flip` averages the image and its mirror image. `translate=t` adds airbench's multi-crop views
(Keller Jordan, 2024): the image shifted by t pixels up-left and by t pixels down-right (the
edges reflected, so the views keep the image's size), each with its mirror too when `flip`.
The unshifted views weigh as much as the shifted ones together:

    p = (mean over the unshifted views + mean over the shifted views) / 2

Evaluation (`deepnets.training.Evaluator`), prediction and the exported model
(`ImagePredictor`) all score this way, so a run's reported accuracy is the exported model's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import add
from typing import Any

import keras

from deepnets.checks import check_bool, check_nonnegative_int


def check_test_time(flip: bool, translate: int) -> tuple[bool, int]:
    """Validated (flip, translate); errors name the argument."""
    return check_bool("flip", flip), check_nonnegative_int("translate", translate)


def shift_images(images: Any, dy: int, dx: int) -> Any:
    """NHWC images moved by (dy, dx) pixels, the uncovered edge reflected; same size.

    The pixel at (i, j) of the result is the input's (i - dy, j - dx), reflected at the
    borders; |dy| and |dx| must be smaller than the images' height and width.
    """
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return images
    for axis, side in ((1, "height"), (2, "width")):
        size = images.shape[axis]
        if size is not None and pad >= size:
            raise ValueError(
                f"cannot shift {size}-pixel-{side} images by {pad} pixels: `translate` must be "
                f"smaller than the images' {side}"
            )
    height, width = keras.ops.shape(images)[1:3]
    padded = keras.ops.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")
    return padded[:, pad - dy : pad - dy + height, pad - dx : pad - dx + width, :]


def view_groups(images: Any, flip: bool, translate: int) -> list[list[Any]]:
    """The views to score, in groups of equal weight: [unshifted views, shifted views]."""
    groups = [[images]]
    if translate:
        up_left = shift_images(images, -translate, -translate)
        groups.append([up_left, shift_images(images, translate, translate)])
    if flip:
        groups = [[*group, *(keras.ops.flip(view, axis=2) for view in group)] for group in groups]
    return groups


def num_views(flip: bool, translate: int) -> int:
    """How many views `view_groups` scores per image."""
    return (3 if translate else 1) * (2 if flip else 1)


def average_probabilities(
    probabilities: Callable[[Any], Any],
    images: Any,
    flip: bool = False,
    translate: int = 0,
) -> Any:
    """The test-time-averaged class probabilities of a batch of NHWC model inputs.

    Args:
        probabilities: maps a batch of model inputs to class probabilities (float32).
        images: the model inputs [n, H, W, C], preprocessed.
        flip: include the mirror image of every view.
        translate: also include views shifted by this many pixels (0: none).

    Returns:
        float32 [n, classes]: each group's views averaged, then the groups averaged.
    """
    groups = view_groups(images, flip, translate)
    # Added left to right, in the order of TensorFlow's add_n kernel that this replaced.
    means = [reduce(add, [probabilities(view) for view in group]) / len(group) for group in groups]
    return reduce(add, means) / len(means)
