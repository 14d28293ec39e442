"""ResNet stems: the layers between the image and the first residual stage.

- "imagenet": 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool, as in the paper and keras.applications
  (explicit zero padding of 3 and 1, so a 224 input gives 56x56 exactly like the reference).
- "cifar": 3x3/1 conv -> BN -> ReLU, no pooling: the usual stem for 32x32 inputs, where the
  ImageNet stem would shrink the image to 8x8 before the first block and stage 5 to 1x1.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import (
    ConvBNLayer,
    check_choice,
    check_positive_int,
    conv_output_length,
    spatial_dims,
    with_channels,
    with_spatial,
)

keras = tf.keras

STEMS = ("imagenet", "cifar")


@keras.utils.register_keras_serializable(package="deepnets")
class ResNetStem(ConvBNLayer):
    """The ResNet stem.

    Args:
        filters: output channels of the stem convolution (64 in every standard ResNet).
        kind: "imagenet" (7x7/2 conv + 3x3/2 max-pool, 4x downsampling) or "cifar" (3x3/1 conv).
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    def __init__(self, filters: int = 64, kind: str = "imagenet", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kind = check_choice("stem", kind, STEMS)
        fmt, policy = self.data_format, self.dtype_policy
        if self.kind == "imagenet":
            self.pad = keras.layers.ZeroPadding2D(3, data_format=fmt, dtype=policy, name="pad")
            self.conv = self._conv(self.filters, 7, strides=2, padding="valid", name="conv")
            self.pool_pad = keras.layers.ZeroPadding2D(
                1, data_format=fmt, dtype=policy, name="pool_pad"
            )
            self.pool = keras.layers.MaxPooling2D(
                3, strides=2, data_format=fmt, dtype=policy, name="pool"
            )
        else:
            self.pad = self.pool_pad = self.pool = None
            self.conv = self._conv(self.filters, 3, name="conv")
        self.bn = self._bn(name="bn")

    def _conv_shape(self, input_shape: tuple) -> tuple:
        shape = with_channels(input_shape, self.data_format, self.filters)
        if self.kind == "cifar":
            return shape
        h, w = spatial_dims(shape, self.data_format)
        h, w = (None if d is None else conv_output_length(d + 6, 7, 2, "valid") for d in (h, w))
        return with_spatial(shape, self.data_format, h, w)

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        conv_shape = self._conv_shape(shape)
        if self.pad is not None:
            self.pad.build(shape)
            self.conv.build(self.pad.compute_output_shape(shape))
        else:
            self.conv.build(shape)
        self.bn.build(conv_shape)
        if self.pool is not None:
            self.pool_pad.build(conv_shape)
            self.pool.build(self.pool_pad.compute_output_shape(conv_shape))
        self._lock_input_channels(shape[self.channel_axis])

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = inputs if self.pad is None else self.pad(inputs)
        x = tf.nn.relu(self.bn(self.conv(x), training=training))
        if self.pool is not None:
            x = self.pool(self.pool_pad(x))
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = self._conv_shape(tuple(input_shape))
        if self.kind == "imagenet":
            h, w = spatial_dims(shape, self.data_format)
            h, w = (None if d is None else conv_output_length(d + 2, 3, 2, "valid") for d in (h, w))
            shape = with_spatial(shape, self.data_format, h, w)
        return shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"filters": self.filters, "kind": self.kind, **self._conv_bn_config()})
        return config
