"""Decoding image files the one way every part of deepnets does it.

Image folders, prediction and the exported model's bytes signature all decode through
`decode_image`, so an image file becomes the same pixels wherever it is read: JPEG, PNG, BMP and
GIF (its first frame), grayscale and RGBA made RGB, as uint8 [H, W, 3].
"""

from __future__ import annotations

import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def decode_image(contents: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 3] pixels of an encoded image (JPEG, PNG, BMP, GIF's first frame).

    Args:
        contents: a scalar string tensor, the file's bytes.

    Returns:
        The image, with 3 channels whatever the file holds.

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not a whole image of those formats.
    """
    image = tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def read_image(path: str | tf.Tensor) -> tf.Tensor:
    """`decode_image` of the file at `path`."""
    return decode_image(tf.io.read_file(path))


def has_image_extension(name: str) -> bool:
    """Whether a file name ends with an image extension deepnets reads (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)
