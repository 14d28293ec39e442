"""How pixels become model inputs: one `Preprocessing` record, used by every consumer.

The evaluation pipeline, the run folder (which records it, so prediction and export need no
data) and anything that classifies new images all call the same `Preprocessing`, so an image is
turned into model input the same way everywhere:

    view:      the whole image ("none"), or its central square of `central_fraction` of the
               shorter side ("central"); then resized to `image_size` (bilinear, antialiased)
               when its size differs
    normalize: (pixels / 255 - mean) / std per channel, float32 [H, W, 3]; or, for weights
               ported from keras.applications ("caffe"), RGB -> BGR minus the ImageNet mean

Training adds augmentation in front of the same resize and normalization (see
`deepnets.data.pipeline`); `train_augmentation` names which.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from deepnets.checks import ArgumentError, check_choice, check_positive_int
from deepnets.data import offline

CROPS = ("none", "central")
NORMALIZATIONS = ("mean_std", "caffe")
# keras.applications' "caffe" mode (VGG, ResNet50/101/152 ImageNet weights): BGR order, this
# per-channel mean (B, G, R) subtracted from 0..255 pixels, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
TRAIN_AUGMENTATIONS = ("pad_crop_flip", "random_resized_crop_flip", "none")

ChannelStats = tuple[float, float, float]

IMAGENET_STATS: tuple[ChannelStats, ChannelStats] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Per-channel (mean, std) of the train split in 0..1 scale. Datasets not listed here, image
# folders included, use the ImageNet statistics: the usual choice for natural photographs, and
# what a network pretrained on ImageNet expects when it is fine-tuned on a folder.
_CHANNEL_STATS: dict[str, tuple[ChannelStats, ChannelStats]] = {
    offline.SHAPES10: (offline.SHAPES10_MEAN, offline.SHAPES10_STD),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,) * 3, (0.3081,) * 3),
    "fashion_mnist": ((0.2860,) * 3, (0.3530,) * 3),
}
# Training resolution of variable-size datasets (imagenette, imagenet2012) when none is given.
DEFAULT_LARGE_IMAGE_SIZE = 224
# Images up to this size get CIFAR-style pad-and-crop; larger ones a random resized crop.
_SMALL_IMAGE_MAX_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """The image-to-input recipe of a model.

    Attributes:
        image_size: (height, width) the model sees.
        mean: per-channel mean subtracted, in 0..1 pixel scale.
        std: per-channel standard deviation divided by, in 0..1 pixel scale.
        crop: evaluation view: "none" (the whole image, for small fixed-size datasets like
            CIFAR) or "central" (the central square, for photographs of any size).
        central_fraction: side of the central square as a fraction of the shorter side.
        train_augmentation: what training did in front of resize and normalization:
            "pad_crop_flip" (4-pixel reflect padding, random crop, flip), or
            "random_resized_crop_flip" (Inception-style crop of 8-100% of the area, flip).
        normalization: "mean_std" ((pixels / 255 - mean) / std) or "caffe" (keras.applications'
            ImageNet weights: BGR order, `CAFFE_BGR_MEAN` subtracted, no scaling; mean and std
            are then unused).
    """

    image_size: tuple[int, int]
    mean: ChannelStats
    std: ChannelStats
    crop: str = "none"
    central_fraction: float = 0.875
    train_augmentation: str = "pad_crop_flip"
    normalization: str = "mean_std"

    def __post_init__(self) -> None:
        check_choice("crop", self.crop, CROPS)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("train_augmentation", self.train_augmentation, TRAIN_AUGMENTATIONS)
        size = tuple(self.image_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ArgumentError("image_size", self.image_size, "(height, width), positive ints")
        if not 0.0 < self.central_fraction <= 1.0:
            raise ArgumentError("central_fraction", self.central_fraction, "a number in (0, 1]")
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3): the shape of one model input."""
        return (*self.image_size, 3)

    def view(self, image: tf.Tensor) -> tf.Tensor:
        """The evaluation view of a uint8 image [h, w, 3] (or a batch of same-size images
        [n, h, w, 3]): float32 0..255 of `image_size`. Image by image, a batch gives exactly
        what its images give one at a time."""
        if self.crop == "central":
            height, width = tf.shape(image)[-3], tf.shape(image)[-2]
            shorter = tf.cast(tf.minimum(height, width), tf.float32)
            side = tf.cast(self.central_fraction * shorter, tf.int32)
            image = tf.image.crop_to_bounding_box(
                image, (height - side) // 2, (width - side) // 2, side, side
            )
        return self.resize(image)

    def resize(self, image: tf.Tensor) -> tf.Tensor:
        """float32 0..255 of `image_size`; resampled only when the size differs."""
        size = self.image_size
        static = tuple(image.shape[-3:-1])
        if None not in static:
            if static == size:
                return tf.cast(image, tf.float32)
            return _bilinear(image, size)
        same = tf.reduce_all(tf.equal(tf.shape(image)[-3:-1], size))
        resized = tf.cond(same, lambda: tf.cast(image, tf.float32), lambda: _bilinear(image, size))
        return tf.ensure_shape(resized, [*image.shape[:-3], *size, 3])

    def normalize(self, image: tf.Tensor) -> tf.Tensor:
        """Model input from 0..255 float pixels [..., H, W, 3], with the static shape."""
        if self.normalization == "caffe":
            image = image[..., ::-1] - tf.constant(CAFFE_BGR_MEAN, tf.float32)
        else:
            mean = tf.constant(self.mean, tf.float32)
            std = tf.constant(self.std, tf.float32)
            image = (image / 255.0 - mean) / std
        return tf.ensure_shape(image, [*image.shape[:-3], *self.input_shape])

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        """Model input of a uint8 image [h, w, 3] or batch [n, h, w, 3]: `normalize(view(.))`."""
        return self.normalize(self.view(image))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, with a formula a person can read."""
        values = dataclasses.asdict(self)
        values["image_size"] = list(self.image_size)
        values["mean"], values["std"] = list(self.mean), list(self.std)
        values["formula"] = (
            "view(image)[..., ::-1] - caffe_bgr_mean"
            if self.normalization == "caffe"
            else "(view(image) / 255 - mean) / std"
        )
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        """The inverse of `to_dict` (extra keys such as "formula" are ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in fields}
        kwargs["image_size"] = tuple(kwargs["image_size"])
        return cls(**kwargs)


def _bilinear(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    return tf.image.resize(image, size, method="bilinear", antialias=True)


def channel_stats(base_name: str) -> tuple[ChannelStats, ChannelStats]:
    """(mean, std) per channel, 0..1 scale, of a dataset's train split, by the dataset's name
    without config and version ("cifar10"); ImageNet's for the datasets not measured here."""
    return _CHANNEL_STATS.get(base_name, IMAGENET_STATS)


def preprocessing_for(
    image_shape: tuple[int | None, int | None, int],
    stats: tuple[ChannelStats, ChannelStats],
    image_size: int | None = None,
) -> Preprocessing:
    """The preprocessing this package uses for a dataset.

    Args:
        image_shape: (H, W, 3) of the dataset's images; H and W None when they vary.
        stats: the dataset's per-channel (mean, std), 0..1 scale (`channel_stats`).
        image_size: side of the square model input; None keeps the dataset's own size (224 for
            datasets whose images vary in size).

    Returns:
        A `Preprocessing`: the whole image and pad-crop-flip training for small fixed-size
        images, the central crop and random resized crops for the others.

    Raises:
        ArgumentError: `image_size` is not a positive integer.
    """
    height, width, _ = image_shape
    small = height is not None and width is not None and max(height, width) <= _SMALL_IMAGE_MAX_SIZE
    if image_size is not None:
        size = (check_positive_int("image_size", image_size),) * 2
    elif height is None or width is None:
        size = (DEFAULT_LARGE_IMAGE_SIZE, DEFAULT_LARGE_IMAGE_SIZE)
    else:
        size = (height, width)
    mean, std = stats
    return Preprocessing(
        image_size=size,
        mean=mean,
        std=std,
        crop="none" if small else "central",
        train_augmentation="pad_crop_flip" if small else "random_resized_crop_flip",
    )
