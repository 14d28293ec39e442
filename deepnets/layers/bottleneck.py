"""Bottleneck residual blocks, 1x1 -> 3x3 -> 1x1: the blocks of ResNet-50/101/152.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.1.

- `BottleneckBlock`: with a projection shortcut (1x1 conv + BN); the first block of each stage
  (keras.applications' `block1` with `conv_shortcut=True`).
- `IdentityBlock`: the same with the identity shortcut; the other blocks of a stage.

With `residual=False` either is the plain bottleneck: no shortcut (so no projection), no addition.
Where a block halves the resolution, `stride_in` says which convolution strides: "1x1" (the first
1x1, as the paper and keras.applications; 0.2 called it `variant="v1"`) or "3x3" (the 3x3, as TF
official models' and torchvision's "v1.5", which sees every input pixel and is ~0.5% better).
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import ArgumentError, check_choice, check_int_tuple
from deepnets.layers.renamed import Renamed, pop_renamed
from deepnets.layers.residual import ResidualBlock

# Which convolution of a bottleneck block strides: the first 1x1 or the 3x3.
STRIDE_PLACEMENTS = ("1x1", "3x3")
# 0.2's name of `stride_in`, and its values: "v1" strided the 1x1, "v1.5" the 3x3.
RENAMED_STRIDE_IN = {"variant": Renamed("stride_in", {"v1": "1x1", "v1.5": "3x3"})}


class _Bottleneck(ResidualBlock):
    """1x1 -> 3x3 -> 1x1 with BN after each conv and ReLU after the first two."""

    projection = True

    def __init__(
        self,
        filters: Any,
        *,
        strides: int = 1,
        stride_in: str = "1x1",
        **kwargs: Any,
    ) -> None:
        # 0.2's files and code name it `variant`.
        owner, given = type(self).__name__, {"stride_in": stride_in}
        renamed = pop_renamed(owner, kwargs, RENAMED_STRIDE_IN, given, {"stride_in": "1x1"})
        stride_in = renamed.get("stride_in", stride_in)
        super().__init__(strides=strides, **kwargs)
        self.filters = check_int_tuple("filters", filters, 3)
        self.stride_in = check_choice("stride_in", stride_in, STRIDE_PLACEMENTS)
        f1, f2, f3 = self.filters
        stride_1x1 = self.strides if self.stride_in == "1x1" else 1
        self.conv1 = self._conv(f1, 1, strides=stride_1x1, padding="valid", name="conv1")
        self.bn1 = self._bn(name="bn1")
        if self.stride_in == "1x1":
            self.pad2, self.conv2 = None, self._conv(f2, 3, name="conv2")
        else:
            self.pad2, self.conv2 = self._strided_3x3(f2, 2)
        self.bn2 = self._bn(name="bn2")
        self.conv3 = self._conv(f3, 1, padding="valid", name="conv3")
        self.bn3 = self._bn(name="bn3", zero_gamma=self.zero_init_residual)
        if self.projection and self.residual:
            self._make_projection(f3)

    def _branch_layers(self) -> list[keras.layers.Layer | None]:
        return [
            *(self.conv1, self.bn1),
            *(self.pad2, self.conv2, self.bn2),
            *(self.conv3, self.bn3, self.drop_path),
        ]

    def _needs_projection(self, input_channels: int) -> bool:
        if not self.projection and input_channels != self.filters[2]:
            raise ArgumentError(
                "filters",
                self.filters,
                f"(f1, f2, {input_channels}) for an input with {input_channels} channels",
                reason=(
                    f"IdentityBlock adds its input to its output, so the input channels must "
                    f"equal filters[2]={self.filters[2]}; got an input with {input_channels} "
                    f"channels. Use a BottleneckBlock (projection shortcut) where the channel "
                    f"count changes."
                ),
            )
        return self.projection

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = keras.ops.relu(self.bn1(self.conv1(inputs), training=training))
        if self.pad2 is not None:
            x = self.pad2(x)
        x = keras.ops.relu(self.bn2(self.conv2(x), training=training))
        x = self.bn3(self.conv3(x), training=training)
        return self._merge(inputs, x, training)


@keras.utils.register_keras_serializable(package="deepnets")
class BottleneckBlock(_Bottleneck):
    """Bottleneck residual block with a projection shortcut (1x1 conv + BN).

    Args:
        filters: (f1, f2, f3) output channels of the 1x1, 3x3 and last 1x1 convolutions; the
            block outputs f3 channels (4 x f1 in a standard ResNet).
        strides: 1, or 2 to halve the spatial size.
        stride_in: with stride 2, the convolution that strides: "1x1" (the first 1x1; the
            paper, keras.applications) or "3x3" (TF official models' and torchvision's "v1.5").
            0.2's `variant="v1"`/`"v1.5"` still reads as "1x1"/"3x3".
        zero_init_residual: initialise the last BatchNorm's gamma to zero (residual blocks).
        stochastic_depth_rate: probability of dropping the residual branch in training
            (residual blocks).
        residual: add the projected shortcut (True) or not (False: a plain block, without the
            projection's parameters).
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    projection = True

    def __init__(
        self,
        filters: Any,
        strides: int = 1,
        stride_in: str = "1x1",
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        *,
        residual: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            strides=strides,
            stride_in=stride_in,
            residual=residual,
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
                "stride_in": self.stride_in,
                **self._residual_config(),
            }
        )
        return config


@keras.utils.register_keras_serializable(package="deepnets")
class IdentityBlock(_Bottleneck):
    """Bottleneck residual block whose shortcut is the input itself.

    Args:
        filters: (f1, f2, f3); the input must already have f3 channels (a ValueError says so)
            unless `residual` is False.
        zero_init_residual: initialise the last BatchNorm's gamma to zero (residual blocks).
        stochastic_depth_rate: probability of dropping the residual branch in training
            (residual blocks).
        residual: add the input (True) or not (False: a plain block, any input channels).
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    projection = False

    def __init__(
        self,
        filters: Any,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        *,
        residual: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            residual=residual,
            zero_init_residual=zero_init_residual,
            stochastic_depth_rate=stochastic_depth_rate,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"filters": list(self.filters), **self._residual_config()})
        return config
