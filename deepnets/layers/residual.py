"""Residual blocks: the skip connections that let ResNets train at 50-152 layers.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016).

- `ResidualBlock`: what every residual block shares (this file).
- `BasicBlock`: two 3x3 convolutions (ResNet-18/34 and the CIFAR ResNets), with the paper's
  shortcut option A or B where the shape changes (this file).
- `BottleneckBlock`, `IdentityBlock`: 1x1 -> 3x3 -> 1x1 with a projection or identity shortcut
  (ResNet-50/101/152; `deepnets.layers.bottleneck`).

Each block ends with `relu(shortcut + drop_path(residual))`. Options every block shares:
`zero_init_residual` starts the last BatchNorm's gamma at zero so the block starts as the identity
(Goyal et al. 2017), `stochastic_depth_rate` drops the residual branch per example during training
(Huang et al. 2016), and `residual=False` makes the block plain: `relu(residual)`, no shortcut and
no addition, the "plain" networks the paper compares ResNets with (section 4.1).
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import (
    ArgumentError,
    check_bool,
    check_choice,
    check_positive_int,
    check_rate,
)
from deepnets.layers.common import ConvBNLayer, chain_shapes

# The paper's shortcut options where the shape changes (section 3.3): "A" subsamples and pads
# with zero channels (no parameters), "B" projects with a 1x1 conv + BN.
SHORTCUTS = ("A", "B")


def check_plain_options(
    residual: bool, zero_init_residual: bool, stochastic_depth_rate: float
) -> None:
    """Refuse the residual-only options on a plain block or model (`residual=False`).

    Both act on the residual branch as a term of a sum; without the shortcut they would zero the
    block's whole output.

    Raises:
        ArgumentError: `zero_init_residual=True` or `stochastic_depth_rate > 0` with
            `residual=False`.
    """
    if residual:
        return
    if zero_init_residual:
        raise ArgumentError(
            "zero_init_residual",
            zero_init_residual,
            "False when residual=False",
            reason=(
                "zero_init_residual=True needs residual=True: a plain block (residual=False) "
                "whose last BatchNorm gamma starts at zero outputs zeros, and no gradient "
                "reaches the layers before it."
            ),
        )
    if stochastic_depth_rate > 0:
        raise ArgumentError(
            "stochastic_depth_rate",
            stochastic_depth_rate,
            "0.0 when residual=False",
            reason=(
                f"stochastic_depth_rate={stochastic_depth_rate!r} needs residual=True: dropping "
                f"the branch of a plain block (residual=False) drops the whole signal."
            ),
        )


def zero_padding_shortcut(inputs: Any, strides: int, filters: int, data_format: str) -> Any:
    """The paper's option A shortcut: subsample by `strides`, pad with zero channels to `filters`.

    `x[:, ::2, ::2]` keeps the pixels a 3x3/2 convolution with padding 1 is centred on, so the
    shortcut and the residual branch line up for even and odd sizes. The new channels are zeros
    after the input's own. Without a change of shape it returns `inputs`.
    """
    first = data_format == "channels_first"
    x = inputs
    if strides > 1:
        x = x[:, :, ::strides, ::strides] if first else x[:, ::strides, ::strides, :]
    axis = 1 if first else 3
    extra = filters - x.shape[axis]
    if extra > 0:
        paddings = [[0, 0]] * 4
        paddings[axis] = [0, extra]
        x = keras.ops.pad(x, paddings)
    return x


class ResidualBlock(ConvBNLayer):
    """Base class: stores the residual options, builds the block, applies drop-path, add, ReLU.

    A subclass creates its residual branch in `__init__`, lists it in call order in
    `_branch_layers()`, and says in `_needs_projection()` whether the shortcut is projected.
    """

    def __init__(
        self,
        *,
        strides: int = 1,
        residual: bool = True,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.strides = check_choice("strides", strides, (1, 2))
        self.residual = check_bool("residual", residual)
        self.zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        self.stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
        check_plain_options(self.residual, self.zero_init_residual, self.stochastic_depth_rate)
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

    def _branch_layers(self) -> list[keras.layers.Layer | None]:
        """The residual branch's layers in call order, ending with `drop_path`."""
        raise NotImplementedError

    def _needs_projection(self, input_channels: int) -> bool:
        """Whether the shortcut needs a 1x1 conv + BN for inputs with `input_channels`.

        Only asked of a residual block: a plain one has no shortcut.
        """
        raise NotImplementedError

    def _make_projection(self, filters: int) -> None:
        self.shortcut_conv = self._conv(filters, 1, strides=self.strides, name="shortcut_conv")
        self.shortcut_bn = self._bn(name="shortcut_bn")

    def _strided_3x3(
        self, filters: int, index: int
    ) -> tuple[keras.layers.ZeroPadding2D | None, keras.layers.Conv2D]:
        """A 3x3 conv named conv{index}, and the zero padding (pad{index}) that precedes it.

        With stride 2, 'same' padding would pad only the bottom/right of an even-sized input;
        padding 1 on every side and a 'valid' conv samples the same pixels as torchvision.
        """
        if self.strides == 1:
            return None, self._conv(filters, 3, name=f"conv{index}")
        pad = self._pad(1, name=f"pad{index}")
        conv = self._conv(filters, 3, strides=self.strides, padding="valid", name=f"conv{index}")
        return pad, conv

    def build(self, input_shape: Any) -> None:
        shape = self._check_input(input_shape)
        channels = shape[self.channel_axis]
        needs_projection = self.residual and self._needs_projection(channels)
        out_shape = chain_shapes(self._branch_layers(), shape, build=True)
        if needs_projection and self.shortcut_conv is None:
            # A BasicBlock only knows whether it projects once it sees its input; a reload
            # rebuilds with the saved input shape and so makes the same sublayers.
            self._make_projection(out_shape[self.channel_axis])
        chain_shapes([self.shortcut_conv, self.shortcut_bn], shape, build=True)
        self._lock_input_channels(channels)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return chain_shapes(self._branch_layers(), input_shape)

    def _merge(self, inputs: Any, branch: Any, training: bool | None) -> Any:
        """The block's output from its input and its residual branch's output."""
        if not self.residual:
            return keras.ops.relu(branch)
        if self.drop_path is not None:
            branch = self.drop_path(branch, training=training)
        return keras.ops.relu(self._shortcut(inputs, training) + branch)

    def _shortcut(self, inputs: Any, training: bool | None) -> Any:
        if self.shortcut_conv is None:
            return inputs
        return self.shortcut_bn(self.shortcut_conv(inputs), training=training)

    def _residual_config(self) -> dict[str, Any]:
        return {
            "residual": self.residual,
            "zero_init_residual": self.zero_init_residual,
            "stochastic_depth_rate": self.stochastic_depth_rate,
            **self._conv_bn_config(),
        }


@keras.utils.register_keras_serializable(package="deepnets")
class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions with a shortcut: the block of ResNet-18/34 and the CIFAR ResNets.

    The shortcut is the identity when the shape is kept. Where `strides` is 2 or the input
    channel count differs from `filters`, it follows `shortcut`: the paper's option "B" projects
    the input (1x1 conv + BN, as ResNet-18/34 and torchvision do), option "A" subsamples it
    (`x[:, ::2, ::2]`) and pads it with zero channels, without parameters (the CIFAR ResNets of
    section 4.2). With `residual=False` the block is plain: `relu(bn2(conv2(...)))`, with no
    shortcut (so no projection either) and no addition.

    Args:
        filters: output channels of both convolutions.
        strides: 1, or 2 to halve the spatial size (in the first 3x3 convolution).
        zero_init_residual: initialise the last BatchNorm's gamma to zero (residual blocks).
        stochastic_depth_rate: probability of dropping the residual branch in training
            (residual blocks).
        shortcut: "B" (1x1 projection where the shape changes) or "A" (zero-padding identity;
            it can add channels, not remove them). Unused when `residual` is False.
        residual: add the shortcut (a residual block) or not (a plain block).
        **kwargs: the shared options of `ConvBNLayer` and Layer arguments.
    """

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        *,
        shortcut: str = "B",
        residual: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            strides=strides,
            residual=residual,
            zero_init_residual=zero_init_residual,
            stochastic_depth_rate=stochastic_depth_rate,
            **kwargs,
        )
        self.filters = check_positive_int("filters", filters)
        self.shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
        self.pad1, self.conv1 = self._strided_3x3(self.filters, 1)
        self.bn1 = self._bn(name="bn1")
        self.conv2 = self._conv(self.filters, 3, name="conv2")
        self.bn2 = self._bn(name="bn2", zero_gamma=self.zero_init_residual)

    def _branch_layers(self) -> list[keras.layers.Layer | None]:
        return [self.pad1, self.conv1, self.bn1, self.conv2, self.bn2, self.drop_path]

    def _needs_projection(self, input_channels: int) -> bool:
        if self.strides == 1 and input_channels == self.filters:
            return False
        if self.shortcut == "B":
            return True
        if input_channels > self.filters:
            raise ArgumentError(
                "shortcut",
                self.shortcut,
                "'B' where the block reduces the channel count",
                reason=(
                    f"shortcut='A' pads the input with zero channels, so it cannot take "
                    f"{input_channels} input channels to filters={self.filters}; use "
                    f"shortcut='B' (a 1x1 projection)."
                ),
            )
        return False

    def _shortcut(self, inputs: Any, training: bool | None) -> Any:
        if self.shortcut == "A":
            return zero_padding_shortcut(inputs, self.strides, self.filters, self.data_format)
        return super()._shortcut(inputs, training)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs if self.pad1 is None else self.pad1(inputs)
        x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        x = self.bn2(self.conv2(x), training=training)
        return self._merge(inputs, x, training)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "shortcut": self.shortcut,
                **self._residual_config(),
            }
        )
        return config
