"""The VGG block: `num_convs` x [Conv3x3 -> (BatchNorm) -> ReLU], then a 2x2 max-pool.

(With `pool_position="first_conv"` the pool comes right after the first convolution, as in
airbench's conv groups: the later convolutions run at a quarter of the positions.)

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015). VGG11/13/16/19 are five of these blocks with 64, 128, 256, 512, 512 filters.
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import check_bool, check_choice, check_positive_int
from deepnets.layers.common import ConvBNLayer, activate, chain_shapes, track_layers

ACTIVATIONS = ("relu", "gelu")
POOL_POSITIONS = ("end", "first_conv")


@keras.utils.register_keras_serializable(package="deepnets")
class VGGBlock(ConvBNLayer):
    """`num_convs` 3x3 convolutions with ReLU (and optional BatchNorm), then max-pooling.

    Args:
        filters: output channels of every convolution in the block.
        num_convs: how many Conv3x3 -> (BN) -> ReLU units the block has.
        batch_norm: put a BatchNormalization between each convolution and its ReLU (VGG-BN).
        pool: end with a 2x2/2 max-pool (True, as in VGG) or keep the resolution (False).
        activation: "relu" (VGG) or "gelu" (the fast CIFAR nets).
        pool_position: with `pool`, "end" (after the last unit, as in VGG) or "first_conv"
            (right after the first convolution, before its BatchNorm, as in airbench).
        **kwargs: the shared options of `ConvBNLayer` (use_bias, bn_momentum, bn_epsilon,
            kernel_initializer, kernel_regularizer, data_format) and Layer arguments (name, dtype).

    Input: a rank-4 image batch. Output: `filters` channels, spatial size halved when `pool`.
    """

    def __init__(
        self,
        filters: int,
        num_convs: int = 2,
        batch_norm: bool = False,
        pool: bool = True,
        activation: str = "relu",
        pool_position: str = "end",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.pool_position = check_choice("pool_position", pool_position, POOL_POSITIONS)
        self.filters = check_positive_int("filters", filters)
        self.num_convs = check_positive_int("num_convs", num_convs)
        self.batch_norm = check_bool("batch_norm", batch_norm)
        self.pool = check_bool("pool", pool)
        self.convs = track_layers(
            self, [self._conv(self.filters, 3, name=f"conv{i + 1}") for i in range(num_convs)]
        )
        self.norms = track_layers(
            self, [self._bn(name=f"bn{i + 1}") for i in range(num_convs)] if self.batch_norm else []
        )
        self.max_pool = (
            keras.layers.MaxPooling2D(
                2, strides=2, data_format=self.data_format, dtype=self.dtype_policy, name="pool"
            )
            if self.pool
            else None
        )

    def _in_call_order(self) -> list[keras.layers.Layer | None]:
        layers: list[keras.layers.Layer | None] = []
        for i, conv in enumerate(self.convs):
            layers.append(conv)
            if i == 0 and self._pool_early:
                layers.append(self.max_pool)
            layers.append(self.norms[i] if self.batch_norm else None)
        return layers if self._pool_early else [*layers, self.max_pool]

    @property
    def _pool_early(self) -> bool:
        return self.max_pool is not None and self.pool_position == "first_conv"

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        chain_shapes(self._in_call_order(), shape, build=True)
        self._lock_input_channels(shape[self.channel_axis])

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i == 0 and self._pool_early:
                x = self.max_pool(x)
            if self.batch_norm:
                x = self.norms[i](x, training=training)
            x = activate(x, self.activation)
        if self.max_pool is not None and not self._pool_early:
            x = self.max_pool(x)
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return chain_shapes(self._in_call_order(), input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "num_convs": self.num_convs,
                "batch_norm": self.batch_norm,
                "pool": self.pool,
                "activation": self.activation,
                "pool_position": self.pool_position,
                **self._conv_bn_config(),
            }
        )
        return config
