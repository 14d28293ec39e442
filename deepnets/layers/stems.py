"""ResNet stems: the layers between the image and the first residual stage.

- "imagenet": 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool, as in the paper and keras.applications
  (explicit zero padding of 3 and 1, so a 224 input gives 56x56 exactly like the reference).
- "cifar": 3x3/1 conv -> BN -> ReLU, no pooling: the usual stem for 32x32 inputs, where the
  ImageNet stem would shrink the image to 8x8 before the first block and stage 5 to 1x1.
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import check_choice, check_positive_int
from deepnets.layers.common import ConvBNLayer, chain_shapes

STEMS = ("imagenet", "cifar")


@keras.utils.register_keras_serializable(package="deepnets")
class ResNetStem(ConvBNLayer):
    """The ResNet stem.

    Args:
        filters: output channels of the stem convolution (64 in every standard ResNet).
        stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool, 4x downsampling) or "cifar" (3x3/1 conv).
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    def __init__(self, filters: int = 64, stem: str = "imagenet", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.stem = check_choice("stem", stem, STEMS)
        if self.stem == "imagenet":
            self.pad = self._pad(3, name="pad")
            self.conv = self._conv(self.filters, 7, strides=2, padding="valid", name="conv")
            self.pool_pad = self._pad(1, name="pool_pad")
            self.pool = keras.layers.MaxPooling2D(
                3, strides=2, data_format=self.data_format, dtype=self.dtype_policy, name="pool"
            )
        else:
            self.pad = self.pool_pad = self.pool = None
            self.conv = self._conv(self.filters, 3, name="conv")
        self.bn = self._bn(name="bn")

    def _in_call_order(self) -> list[keras.layers.Layer | None]:
        return [self.pad, self.conv, self.bn, self.pool_pad, self.pool]

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        chain_shapes(self._in_call_order(), shape, build=True)
        self._lock_input_channels(shape[self.channel_axis])

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs if self.pad is None else self.pad(inputs)
        x = keras.ops.relu(self.bn(self.conv(x), training=training))
        if self.pool is not None:
            x = self.pool(self.pool_pad(x))
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return chain_shapes(self._in_call_order(), input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"filters": self.filters, "stem": self.stem, **self._conv_bn_config()})
        return config
