"""The benchmark's rows: which models it measures."""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from deepnets.models import build_model

NUM_CLASSES = 100
IMAGE_SHAPE = (32, 32, 3)


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """One row of the table: a registry model and its keras.applications twin, if any.

    Attributes:
        name: the row label (and the value of --models).
        registry_name: the deepnets registry name.
        overrides: builder overrides that make the variant (e.g. stem="cifar").
        keras_application: the `keras.applications` function of the same network, or None.
        batch_size: this row's global batch size (None: the benchmark's `--batch_size`).
    """

    name: str
    registry_name: str
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    keras_application: str | None = None
    batch_size: int | None = None

    def build_deepnets(self) -> Any:
        """The deepnets model, returning logits for `NUM_CLASSES` classes."""
        return build_model(
            self.registry_name,
            num_classes=NUM_CLASSES,
            input_shape=IMAGE_SHAPE,
            classifier_activation=None,
            **self.overrides,
        )

    def build_keras_application(self) -> Any:
        """The `keras.applications` model (weights=None, logits), or None where there is none."""
        if self.keras_application is None:
            return None
        builder = getattr(tf.keras.applications, self.keras_application)
        return builder(
            weights=None,
            input_shape=IMAGE_SHAPE,
            classes=NUM_CLASSES,
            classifier_activation=None,
        )


MODEL_CASES: dict[str, ModelCase] = {
    case.name: case
    for case in (
        ModelCase("vgg16", "vgg16", {}, "VGG16"),
        ModelCase("resnet18_cifar", "resnet18", {"stem": "cifar"}),
        ModelCase("resnet50", "resnet50", {}, "ResNet50"),
        ModelCase("resnet50_cifar", "resnet50", {"stem": "cifar"}),
        # The network a CPU recipe trains: narrow, at the batch size it trains with.
        ModelCase("resnet18_w16", "resnet18", {"stem": "cifar", "width": 16}, batch_size=128),
        # The fast CPU recipe's network (trainers/flagfiles/cifar10_fast_cpu.cfg), and the half
        # width it had before bfloat16 made the full width pay.
        ModelCase("vgg_fast", "vgg_fast", {"stem_layer": "whiten"}, batch_size=256),
        ModelCase("vgg_fast_half", "vgg_fast_half", {"stem_layer": "whiten"}, batch_size=256),
    )
}
