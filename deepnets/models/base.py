"""`ImageClassifier`: what every deepnets model shares.

A model is a feature stack (a list of layers applied in order) and, with `include_top`, a
`ClassifierHead`; without it, optional global pooling. This class builds the stack layer by layer
with computed shapes, so `model.build((None, 224, 224, 3))` creates every weight without a
forward pass, checks the input, and holds the arguments common to all models.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import (
    channel_axis,
    check_choice,
    check_image_shape,
    check_positive_int,
    normalize_data_format,
    track_layers,
)
from deepnets.layers.head import ClassifierHead, check_activation

keras = tf.keras

POOLINGS = (None, "avg", "max")


class ImageClassifier(keras.Model):
    """Base class of the deepnets models.

    Args:
        num_classes: number of classes of the top layer.
        include_top: end with the classifier head (True) or return features (False).
        pooling: with `include_top=False`: None (4D feature map), "avg" or "max" (global pooling).
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_channels: channels the model accepts (3 for RGB).
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        include_top: bool,
        pooling: str | None,
        classifier_activation: Any,
        input_channels: int,
        data_format: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.include_top = bool(include_top)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.classifier_activation = check_activation(classifier_activation)
        self.input_channels = check_positive_int("input_channels", input_channels)
        self.data_format = normalize_data_format(data_format)
        self.features: list[keras.layers.Layer] = []
        self.head: keras.layers.Layer | None = None

    def _set_features(self, layers: list) -> None:
        """Set the feature stack, the layers that `call` applies in order before the head."""
        self.features = track_layers(self, layers)

    def _make_top(
        self,
        head_pooling: str,
        hidden_units: tuple[int, ...] = (),
        dropout: float = 0.0,
        kernel_regularizer: Any = None,
    ) -> None:
        """Create the head (`include_top`) or the global pooling layer (`pooling`), if any."""
        if self.include_top:
            self.head = ClassifierHead(
                self.num_classes,
                pooling=head_pooling,
                hidden_units=hidden_units,
                dropout=dropout,
                classifier_activation=self.classifier_activation,
                kernel_regularizer=kernel_regularizer,
                data_format=self.data_format,
                dtype=self.dtype_policy,
                name="head",
            )
        elif self.pooling == "avg":
            self.head = keras.layers.GlobalAveragePooling2D(
                self.data_format, dtype=self.dtype_policy, name="avg_pool"
            )
        elif self.pooling == "max":
            self.head = keras.layers.GlobalMaxPooling2D(
                self.data_format, dtype=self.dtype_policy, name="max_pool"
            )

    def _check_input(self, input_shape: Any) -> tuple:
        name = self.__class__.__name__
        shape = check_image_shape(name, input_shape, self.data_format)
        channels = shape[channel_axis(self.data_format)]
        if channels != self.input_channels:
            raise ValueError(
                f"{name} was configured with input_channels={self.input_channels} but got "
                f"input_shape={shape} with {channels} channels (data_format="
                f"{self.data_format!r}). Pass input_channels={channels} to the model, or feed "
                f"{self.input_channels}-channel images."
            )
        return shape

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        for layer in self.features:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        if self.head is not None:
            self.head.build(shape)
        self.input_spec = keras.layers.InputSpec(
            ndim=4, axes={channel_axis(self.data_format): self.input_channels}
        )

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = inputs
        for layer in self.features:
            x = layer(x, training=training)
        if self.head is not None:
            x = self.head(x, training=training)
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = tuple(input_shape)
        for layer in self.features:
            shape = layer.compute_output_shape(shape)
        if self.head is not None:
            shape = self.head.compute_output_shape(shape)
        return shape

    def _base_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "include_top": self.include_top,
            "pooling": self.pooling,
            "classifier_activation": self.classifier_activation,
            "input_channels": self.input_channels,
            "data_format": self.data_format,
        }

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._base_config())
        return config
