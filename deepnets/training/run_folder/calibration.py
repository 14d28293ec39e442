"""Training images to calibrate an int8 LiteRT export on: from a run's dataset or a folder.

Full-integer quantization measures the range of every activation on representative inputs; a
few hundred training images, spread over the classes, as the exported model will receive them
(uint8, of its input size), are the usual choice.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from deepnets.checks import check_positive_int
from deepnets.data import DEFAULT_VALIDATION_SPLIT, open_dataset
from deepnets.data.images import has_image_extension, read_image
from deepnets.training.run_folder.portable import DEFAULT_CALIBRATION_COUNT
from deepnets.training.run_folder.run_record import RunRecord

keras = tf.keras


def calibration_images_of_run(
    record: RunRecord,
    shape: tuple[int, int, int],
    count: int = DEFAULT_CALIBRATION_COUNT,
) -> np.ndarray:
    """`count` images of the run's training split, evenly spaced over it (so over its classes).

    Args:
        record: the run's record: where its dataset is and which split it trained on.
        shape: (h, w, 3) the images are brought to (`portable_input_shape`).
        count: how many images.

    Returns:
        uint8 [min(count, training images), h, w, 3].

    Raises:
        DatasetUnavailableError: the dataset is not where the run found it (tfds datasets are
            not downloaded for this); the message says where it looked.
    """
    check_positive_int("count", count)
    facts = record.dataset
    source = open_dataset(
        facts.name,
        data_dir=record.config.data_dir,
        download=False,
        validation_split=facts.validation_split or DEFAULT_VALIDATION_SPLIT,
        preprocessing=facts.preprocessing,
    )
    every = max(1, facts.train_examples // count)
    examples = source.examples(facts.train_split).shard(every, 0).take(count)
    return np.stack([_fitted(image, shape) for image, _ in examples])


def calibration_images_of_folder(
    folder: str,
    shape: tuple[int, int, int],
    count: int = DEFAULT_CALIBRATION_COUNT,
) -> np.ndarray:
    """`count` images of a folder (its sub-folders included), evenly spaced in file-name order.

    Args:
        folder: a folder of JPEG, PNG, BMP or GIF files, at any depth.
        shape: (h, w, 3) the images are brought to (`portable_input_shape`).
        count: how many images.

    Returns:
        uint8 [min(count, images in the folder), h, w, 3].

    Raises:
        ValueError: the folder does not exist or holds no image file.
    """
    check_positive_int("count", count)
    if not os.path.isdir(folder):
        raise ValueError(f"calibration_images: {folder} is not a folder; give a folder of images")
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if has_image_extension(name)
    )
    if not paths:
        raise ValueError(
            f"calibration_images: {folder} holds no image file (.jpg, .jpeg, .png, .bmp, .gif)"
        )
    picked = np.unique(np.linspace(0, len(paths) - 1, min(count, len(paths))).astype(int))
    return np.stack([_fitted(read_image(paths[i]), shape) for i in picked])


def _fitted(image: tf.Tensor, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 `shape` of a uint8 image: as it is when it has that size, else its central part of
    the target's aspect ratio resized (antialiased)."""
    if tuple(image.shape) == tuple(shape):
        return image.numpy()
    resized = keras.ops.image.resize(
        tf.cast(image, tf.float32), shape[:2], antialias=True, crop_to_aspect_ratio=True
    )
    return np.clip(np.round(keras.ops.convert_to_numpy(resized)), 0, 255).astype(np.uint8)
