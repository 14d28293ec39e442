"""Training augmentation: crop and flip (`augment_image`), and more from Keras' own layers.

`augment_image` is the crop and flip every training pipeline applies (pad-4 random crops of
small images, random resized crops of large ones, horizontal flips), a pure function of the
run's seed and the example's position.

`Augmentation` says which: RandAugment and random erasing act on each image, MixUp and CutMix on
each batch (they blend images and their one-hot labels, so the batch's labels become
probability vectors [b, classes]; the loss and the metrics take those). The layers are Keras'
(`keras.layers.RandAugment`, `RandomErasing`, `MixUp`, `CutMix`), run inside tf.data.

Their randomness comes from each layer's seed generator, so, unlike the crop and the flip (which
are a pure function of the run's seed and the example's position), they are not repeated
exactly when a killed run resumes mid-epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from deepnets.checks import check_choice, check_in_range, check_nonnegative_int
from deepnets.data.preprocessing import Preprocessing

keras = tf.keras

CROP_PADDING = 4  # pixels of reflect padding around small images before the random crop
FLIP_CHOICES = ("random", "alternate")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Which extra augmentations a training pipeline applies (all off by default).

    Attributes:
        randaugment_ops: RandAugment's number of operations per image (0: off).
        randaugment_magnitude: RandAugment's strength, in [0, 1].
        random_erasing: the probability of erasing a random rectangle of an image (its area
            2-33% of the image, filled with noise), in [0, 1].
        mixup_alpha: MixUp's Beta(alpha, alpha) mixing (0: off).
        cutmix_alpha: CutMix's Beta(alpha, alpha) box area (0: off). With both on, each batch
            gets one of the two, at random.
        crop_padding: the largest shift of the random crops of small images, in pixels.
        flip: "random" mirrors each image with probability 1/2 every epoch; "alternate"
            (airbench's alternating flip) mirrors a random half of the examples in even epochs
            and the other half in odd ones, so every example is seen both ways every two
            epochs (see `alternating_flip`).
    """

    randaugment_ops: int = 0
    randaugment_magnitude: float = 0.5
    random_erasing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    crop_padding: int = CROP_PADDING
    flip: str = "random"

    def __post_init__(self) -> None:
        check_nonnegative_int("crop_padding", self.crop_padding)
        check_choice("flip", self.flip, FLIP_CHOICES)
        check_nonnegative_int("randaugment_ops", self.randaugment_ops)
        check_in_range("randaugment_magnitude", self.randaugment_magnitude, 0.0, 1.0)
        check_in_range("random_erasing", self.random_erasing, 0.0, 1.0)
        check_in_range("mixup_alpha", self.mixup_alpha, 0.0, float("inf"))
        check_in_range("cutmix_alpha", self.cutmix_alpha, 0.0, float("inf"))

    @property
    def mixes_labels(self) -> bool:
        """Whether the labels become probability vectors (MixUp or CutMix)."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def image_transform(self, seed: int) -> Any:
        """`image (float 0..255 [H, W, 3]) -> image`, or None when no per-image layer is on."""
        layers = []
        if self.randaugment_ops:
            layers.append(
                keras.layers.RandAugment(
                    value_range=(0, 255),
                    num_ops=self.randaugment_ops,
                    factor=self.randaugment_magnitude,
                    seed=seed,
                )
            )
        if self.random_erasing:
            erase = keras.layers.RandomErasing(factor=1.0, value_range=(0, 255), seed=seed + 1)
            layers.append(_sometimes(erase, self.random_erasing, seed + 2))
        if not layers:
            return None

        def transform(image: tf.Tensor) -> tf.Tensor:
            for layer in layers:
                image = layer(image, training=True)
            return tf.cast(image, tf.float32)

        return transform

    def batch_transform(self, num_classes: int, seed: int) -> Any:
        """`(images [b, H, W, 3], labels int [b]) -> (images, labels float [b, classes])`, or
        None when neither MixUp nor CutMix is on."""
        if not self.mixes_labels:
            return None
        mixers = []
        if self.mixup_alpha:
            mixers.append(keras.layers.MixUp(alpha=self.mixup_alpha, seed=seed))
        if self.cutmix_alpha:
            mixers.append(keras.layers.CutMix(factor=self.cutmix_alpha, seed=seed + 1))
        coin = tf.random.Generator.from_seed(seed + 2)

        def transform(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            data = {"images": images, "labels": tf.one_hot(labels, num_classes)}
            if len(mixers) == 1:
                mixed = mixers[0](data, training=True)
            else:
                mixed = tf.cond(
                    coin.uniform([]) < 0.5,
                    lambda: mixers[0](data, training=True),
                    lambda: mixers[1](data, training=True),
                )
            return mixed["images"], tf.cast(mixed["labels"], tf.float32)

        return transform


def _sometimes(layer: keras.layers.Layer, probability: float, seed: int) -> Any:
    """`layer` applied to an image with `probability`, else the image unchanged."""
    generator = tf.random.Generator.from_seed(seed)

    def maybe(image: tf.Tensor, training: bool = True) -> tf.Tensor:
        return tf.cond(
            generator.uniform([]) < probability,
            lambda: tf.cast(layer(image, training=training), image.dtype),
            lambda: image,
        )

    return maybe


def alternating_flip(example_seed: tf.Tensor, epoch: int) -> tf.Tensor:
    """Whether to mirror an example in `epoch` under alternating flips.

    Args:
        example_seed: a stateless seed, int64 [2], the same for the example every epoch.
        epoch: 0-based epoch index.

    Returns:
        bool scalar: a coin flip fixed by `example_seed` in even epochs, its opposite in odd
        ones.
    """
    first = tf.random.stateless_uniform([], seed=example_seed) < 0.5
    return tf.math.logical_xor(first, tf.constant(epoch % 2 == 1))


def augment_image(
    image: tf.Tensor,
    seed: tf.Tensor,
    preprocessing: Preprocessing,
    crop_padding: int = CROP_PADDING,
    flip: tf.Tensor | None = None,
) -> tf.Tensor:
    """A random crop and horizontal flip of one uint8 image, resized as `preprocessing` says.

    Args:
        image: uint8 [h, w, 3].
        seed: a stateless seed, int64 [2].
        preprocessing: says which augmentation ("pad_crop_flip" keeps the image's size,
            "random_resized_crop_flip" samples a box) and the output size.
        crop_padding: with "pad_crop_flip", the reflect padding (the largest shift) in pixels.
        flip: a bool scalar that decides the mirroring (see `alternating_flip`); None: a coin
            flip drawn from `seed`.

    Returns:
        float32 [H, W, 3] in 0..255, not normalized.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    if preprocessing.train_augmentation == "pad_crop_flip":
        pad = crop_padding
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
        cropped.set_shape(image.shape)  # a window of the image's own size
        image = cropped
    elif preprocessing.train_augmentation == "random_resized_crop_flip":
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image),
            bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=crop_seed,
            min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0),
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        image = tf.slice(image, begin, size)
    if preprocessing.train_augmentation != "none":
        if flip is None:
            image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        else:
            image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    return preprocessing.resize(image)
