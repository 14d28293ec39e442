"""Residual blocks: the skip connections that let ResNets train at 50-152 layers.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016).

- `BottleneckBlock`: 1x1 -> 3x3 -> 1x1 with a projection shortcut (1x1 conv + BN); the first block
  of each ResNet-50/101/152 stage (keras.applications' `block1` with `conv_shortcut=True`).
- `IdentityBlock`: the same with the identity shortcut; the other blocks of a stage.
- `BasicBlock`: two 3x3 convolutions (ResNet-18/34), projecting the shortcut when the shape changes.

Each block ends with `relu(shortcut + drop_path(residual))`. Options every block shares:
`zero_init_residual` starts the last BatchNorm's gamma at zero so the block starts as the identity
(Goyal et al. 2017), `stochastic_depth_rate` drops the residual branch per example during training
(Huang et al. 2016).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import (
    ConvBNLayer,
    check_choice,
    check_filters_tuple,
    check_positive_int,
    check_rate,
    conv_output_length,
    spatial_dims,
    with_channels,
    with_spatial,
)

keras = tf.keras

BOTTLENECK_VARIANTS = ("v1", "v1.5")


class ResidualBlock(ConvBNLayer):
    """Base class: stores the residual options and applies drop-path, add and ReLU."""

    def __init__(
        self,
        *,
        strides: int = 1,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.strides = check_choice("strides", strides, (1, 2))
        self.zero_init_residual = bool(zero_init_residual)
        self.stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
        # Dropout with one mask value per example drops whole residual branches and rescales the
        # kept ones by 1 / (1 - rate): exactly stochastic depth.
        self.drop_path = (
            keras.layers.Dropout(
                self.stochastic_depth_rate,
                noise_shape=(None, 1, 1, 1),
                dtype=self.dtype_policy,
                name="drop_path",
            )
            if self.stochastic_depth_rate > 0
            else None
        )
        self.shortcut_conv = None
        self.shortcut_bn = None

    def _make_projection(self, filters: int) -> None:
        self.shortcut_conv = self._conv(filters, 1, strides=self.strides, name="shortcut_conv")
        self.shortcut_bn = self._bn(name="shortcut_bn")

    def _build_projection(self, input_shape: tuple, filters: int) -> None:
        if self.shortcut_conv is not None:
            self.shortcut_conv.build(input_shape)
            self.shortcut_bn.build(self._strided_shape(input_shape, filters))

    def _strided_shape(self, input_shape: tuple, channels: int) -> tuple:
        shape = with_channels(tuple(input_shape), self.data_format, channels)
        h, w = spatial_dims(shape, self.data_format)
        return with_spatial(
            shape,
            self.data_format,
            conv_output_length(h, 1, self.strides, "valid"),
            conv_output_length(w, 1, self.strides, "valid"),
        )

    def _strided_3x3(self, filters: int, name: str) -> keras.layers.Layer:
        """A 3x3 conv with symmetric padding, so stride 2 samples the same pixels on any backend."""
        if self.strides == 1:
            return self._conv(filters, 3, name=name)
        return keras.Sequential(
            [
                keras.layers.ZeroPadding2D(
                    1, data_format=self.data_format, dtype=self.dtype_policy
                ),
                self._conv(filters, 3, strides=self.strides, padding="valid"),
            ],
            name=name,
        )

    def _merge(self, shortcut: tf.Tensor, residual: tf.Tensor, training: bool | None) -> tf.Tensor:
        if self.drop_path is not None:
            residual = self.drop_path(residual, training=training)
        return tf.nn.relu(shortcut + residual)

    def _shortcut(self, inputs: tf.Tensor, training: bool | None) -> tf.Tensor:
        if self.shortcut_conv is None:
            return inputs
        return self.shortcut_bn(self.shortcut_conv(inputs), training=training)

    def _residual_config(self) -> dict[str, Any]:
        return {
            "zero_init_residual": self.zero_init_residual,
            "stochastic_depth_rate": self.stochastic_depth_rate,
            **self._conv_bn_config(),
        }


class _Bottleneck(ResidualBlock):
    """1x1 -> 3x3 -> 1x1 with BN after each conv and ReLU after the first two."""

    projection = True

    def __init__(
        self,
        filters: Any,
        *,
        strides: int = 1,
        variant: str = "v1",
        **kwargs: Any,
    ) -> None:
        super().__init__(strides=strides, **kwargs)
        self.filters = check_filters_tuple("filters", filters, 3)
        self.variant = check_choice("variant", variant, BOTTLENECK_VARIANTS)
        f1, f2, f3 = self.filters
        # "v1" strides in the first 1x1 (the paper, keras.applications); "v1.5" in the 3x3
        # (TF official models, torchvision), which sees every input pixel and is ~0.5% better.
        stride_1x1 = self.strides if self.variant == "v1" else 1
        self.conv1 = self._conv(f1, 1, strides=stride_1x1, padding="valid", name="conv1")
        self.bn1 = self._bn(name="bn1")
        if self.variant == "v1":
            self.conv2 = self._conv(f2, 3, name="conv2")
        else:
            self.conv2 = self._strided_3x3(f2, name="conv2")
        self.bn2 = self._bn(name="bn2")
        self.conv3 = self._conv(f3, 1, padding="valid", name="conv3")
        self.bn3 = self._bn(name="bn3", zero_gamma=self.zero_init_residual)
        if self.projection:
            self._make_projection(f3)

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        channels = shape[self.channel_axis]
        f1, f2, f3 = self.filters
        if not self.projection and channels != f3:
            raise ValueError(
                f"IdentityBlock adds its input to its output, so the input channels must equal "
                f"filters[2]={f3}; got input_shape={shape} with {channels} channels. Use a "
                f"BottleneckBlock (projection shortcut) where the channel count changes."
            )
        out_shape = self._strided_shape(shape, f3)
        if self.variant == "v1":
            self.conv1.build(shape)
            self.bn1.build(with_channels(out_shape, self.data_format, f1))
            self.conv2.build(with_channels(out_shape, self.data_format, f1))
        else:
            self.conv1.build(shape)
            self.bn1.build(with_channels(shape, self.data_format, f1))
            self.conv2.build(with_channels(shape, self.data_format, f1))
        self.bn2.build(with_channels(out_shape, self.data_format, f2))
        self.conv3.build(with_channels(out_shape, self.data_format, f2))
        self.bn3.build(out_shape)
        self._build_projection(shape, f3)
        self._lock_input_channels(channels)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = tf.nn.relu(self.bn1(self.conv1(inputs), training=training))
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        x = self.bn3(self.conv3(x), training=training)
        return self._merge(self._shortcut(inputs, training), x, training)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._strided_shape(tuple(input_shape), self.filters[2])


@keras.utils.register_keras_serializable(package="deepnets")
class BottleneckBlock(_Bottleneck):
    """Bottleneck residual block with a projection shortcut (1x1 conv + BN).

    Args:
        filters: (f1, f2, f3) output channels of the 1x1, 3x3 and last 1x1 convolutions; the
            block outputs f3 channels (4 x f1 in a standard ResNet).
        strides: 1, or 2 to halve the spatial size.
        variant: "v1" puts the stride in the first 1x1 conv (the paper, keras.applications);
            "v1.5" puts it in the 3x3 conv (TF official models, torchvision).
        zero_init_residual: initialise the last BatchNorm's gamma to zero.
        stochastic_depth_rate: probability of dropping the residual branch in training.
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    projection = True

    def __init__(
        self,
        filters: Any,
        strides: int = 1,
        variant: str = "v1",
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            strides=strides,
            variant=variant,
            zero_init_residual=zero_init_residual,
            stochastic_depth_rate=stochastic_depth_rate,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "strides": self.strides,
                "variant": self.variant,
                **self._residual_config(),
            }
        )
        return config


@keras.utils.register_keras_serializable(package="deepnets")
class IdentityBlock(_Bottleneck):
    """Bottleneck residual block whose shortcut is the input itself.

    Args:
        filters: (f1, f2, f3); the input must already have f3 channels (a ValueError says so).
        zero_init_residual: initialise the last BatchNorm's gamma to zero.
        stochastic_depth_rate: probability of dropping the residual branch in training.
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    projection = False

    def __init__(
        self,
        filters: Any,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            zero_init_residual=zero_init_residual,
            stochastic_depth_rate=stochastic_depth_rate,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"filters": list(self.filters), **self._residual_config()})
        return config


@keras.utils.register_keras_serializable(package="deepnets")
class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions with a shortcut: the block of ResNet-18 and ResNet-34.

    The shortcut is the identity when the shape is kept, and a projection (1x1 conv + BN) when
    `strides` is 2 or the input channel count differs from `filters`.

    Args:
        filters: output channels of both convolutions.
        strides: 1, or 2 to halve the spatial size (in the first 3x3 convolution).
        zero_init_residual: initialise the last BatchNorm's gamma to zero.
        stochastic_depth_rate: probability of dropping the residual branch in training.
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            strides=strides,
            zero_init_residual=zero_init_residual,
            stochastic_depth_rate=stochastic_depth_rate,
            **kwargs,
        )
        self.filters = check_positive_int("filters", filters)
        self.conv1 = self._strided_3x3(self.filters, name="conv1")
        self.bn1 = self._bn(name="bn1")
        self.conv2 = self._conv(self.filters, 3, name="conv2")
        self.bn2 = self._bn(name="bn2", zero_gamma=self.zero_init_residual)

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        channels = shape[self.channel_axis]
        out_shape = self._strided_shape(shape, self.filters)
        self.conv1.build(shape)
        self.bn1.build(out_shape)
        self.conv2.build(out_shape)
        self.bn2.build(out_shape)
        if self.strides != 1 or channels != self.filters:
            # Whether a projection is needed depends on the input, so it is made here; a reload
            # rebuilds with the saved input shape and so makes the same sublayers.
            if self.shortcut_conv is None:
                self._make_projection(self.filters)
            self._build_projection(shape, self.filters)
        self._lock_input_channels(channels)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        x = tf.nn.relu(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        return self._merge(self._shortcut(inputs, training), x, training)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._strided_shape(tuple(input_shape), self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides, **self._residual_config()})
        return config
