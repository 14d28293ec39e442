"""The first fields of a `TrainConfig`: what to train, on which images, from which weights.

A base dataclass of `TrainConfig`, so that each file holds one group of settings; the fields
carry their help text and check like all the others (see `config_fields.setting`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deepnets.training.config.fields import (
    BOOL,
    NAME,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPTIONAL_POSITIVE_INT,
    choice,
    number_range,
    overrides_dict,
    setting,
)


@dataclasses.dataclass
class InputSettings:
    """The model, the dataset, its augmentation and the starting weights of a run."""

    # What to train, on what, and where the run folder is.
    model: str = setting("resnet18", "Registry name of the model, e.g. resnet18, vgg16_bn.", NAME)
    model_overrides: dict[str, Any] = setting(
        None,
        "Keyword arguments for the model builder, e.g. stem=cifar,width=16.",
        overrides_dict,
        factory=dict,
    )
    dataset: str = setting(
        "shapes10",
        "Dataset: shapes10 (generated offline), a tfds dataset name, or a folder of images "
        "(PATH/<class>/<image>, or PATH/train/<class>/... with PATH/val|validation|test/...).",
        NAME,
    )
    data_dir: str | None = setting(None, "Where tfds datasets live (default: tfds' own).")
    download: bool = setting(True, "Let tfds download a dataset missing from data_dir.", BOOL)
    image_size: int | None = setting(
        None,
        "Side of the square model input (default: the dataset's size).",
        OPTIONAL_POSITIVE_INT,
    )
    model_dir: str = setting(
        "runs/default", "Run folder: checkpoints, reports, run record, final model.", NAME
    )

    validation_split: float = setting(
        0.1,
        "For an image folder without val/validation/test folders: the fraction of every class "
        "held out for evaluation (the same files every run, whatever the listing order).",
        number_range(0.0, 1.0, low_inclusive=False, high_inclusive=False),
    )
    cache_images: str | bool = setting(
        "auto",
        "Keep the decoded training images in memory after the first epoch: auto (when they "
        "take at most 2 GiB), true or false.",
        choice("auto", True, False),
    )

    crop_padding: int = setting(
        4,
        "Pixels of reflect padding before the random crop of small (CIFAR-size) training "
        "images: the largest shift (0: flips only).",
        NONNEGATIVE_INT,
    )
    flip: str = setting(
        "random",
        "Mirroring of training images: random (each image with probability 1/2 every epoch) or "
        "alternate (a random half of the examples in even epochs, the other half in odd ones: "
        "airbench's alternating flip).",
        choice("random", "alternate"),
    )
    # Augmentation beyond crop and flip (Keras' preprocessing layers; all off by default).
    randaugment_ops: int = setting(
        0, "RandAugment operations per training image (0: off).", NONNEGATIVE_INT
    )
    randaugment_magnitude: float = setting(
        0.5, "RandAugment's strength, in [0, 1].", number_range(0.0, 1.0)
    )
    random_erasing: float = setting(
        0.0,
        "Probability of erasing a random rectangle of a training image.",
        number_range(0.0, 1.0),
    )
    mixup_alpha: float = setting(
        0.0, "MixUp of training batches with Beta(alpha, alpha) weights (0: off).", NONNEGATIVE
    )
    cutmix_alpha: float = setting(
        0.0,
        "CutMix of training batches with Beta(alpha, alpha) box areas (0: off; with mixup_alpha "
        "too, each batch gets one of the two).",
        NONNEGATIVE,
    )

    # Starting weights.
    init_weights: str | None = setting(
        None,
        "Start from these weights: 'imagenet' (keras.applications' ImageNet weights, downloaded "
        "once into Keras' cache) or such a .h5 file (vgg16, vgg19, resnet50, resnet101, "
        "resnet152; the preprocessing those weights expect is switched on), a deepnets run folder "
        "or a .keras file (every weight but a classifier of another shape).",
    )
    freeze_backbone_epochs: int = setting(
        0,
        "Train only the classifier for this many epochs (the backbone's BatchNorm in inference "
        "mode), then the whole network.",
        NONNEGATIVE_INT,
    )
    backbone_learning_rate_multiplier: float = setting(
        1.0,
        "The backbone learns at learning_rate times this (the classifier at learning_rate).",
        number_range(0.0, 1.0, low_inclusive=False),
    )
