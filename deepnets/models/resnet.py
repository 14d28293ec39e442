"""ResNet: a stem, stages of residual blocks, a classifier; every ResNet of the paper is one.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016). The architecture is data,
as in timm's `ResNet(block, layers)` and keras-hub's `ResNetBackbone`: a `block_type` ("basic":
two 3x3 convolutions; "bottleneck": 1x1 -> 3x3 -> 1x1 with 4x expansion), the blocks, base
widths and stride of each stage (`stage_blocks`, `stage_widths`, `stage_strides`), a `stem`
("imagenet": 7x7/2 conv + 3x3/2 max-pool; "cifar": 3x3/1 conv), and `residual=False` for the
plain twin the paper compares with (section 4.1).

ResNet-18/34/50/101/152 are `ResNet(depth=...)` (Table 1, `IMAGENET_LAYOUTS`); the CIFAR ResNets
of section 4.2 are `ResNet(**cifar_resnet_arguments(depth))`; the registry names them all
("resnet50", "resnet20", "plain20", ...). Stage s (from 0) holds the blocks conv{s+2}_block1 ...
(the paper's and keras.applications' names) and its output is the feature map "C{s+2}".
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import ArgumentError, check_bool, check_choice, check_positive_int, check_rate
from deepnets.layers.bottleneck import (
    RENAMED_STRIDE_IN,
    STRIDE_PLACEMENTS,
    BottleneckBlock,
    IdentityBlock,
)
from deepnets.layers.residual import SHORTCUTS, BasicBlock, ResidualBlock, check_plain_options
from deepnets.layers.stems import STEMS, ResNetStem
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import Head, conv_options
from deepnets.models.resnet_layout import (
    IMAGENET_LAYOUTS,
    check_stage_strides,
    check_stage_widths,
    resolve_layout,
)

BOTTLENECK_EXPANSION = 4
STEM_REDUCTION = {"imagenet": 4, "cifar": 1}


@keras.utils.register_keras_serializable(package="deepnets")
class ResNet(ImageClassifier):
    """A ResNet of any layout: ResNet-18..152, the CIFAR ResNets, their plain twins, and others.

    With the defaults, `ResNet(depth=50)` is keras.applications' ResNet50 layer for layer (bias
    in every conv, BN epsilon 1.001e-5, stride in the first 1x1 of a bottleneck), so
    `deepnets.models.load_keras_applications_weights` can copy its ImageNet weights. Its
    features are the stage outputs "C2", "C3", ... (strides 4..32 with the ImageNet stem and the
    default strides, 1..8 with the CIFAR stem); `model.get_layer("conv1")` is the `ResNetStem`
    and `model.blocks` lists the residual blocks.

    With `residual=False` it is the paper's plain network of the same depth: the same layers
    without the shortcuts, so without their additions and without the projection shortcuts'
    1x1 conv + BN (basic blocks: where the shape changes, so the plain twin has the parameter
    count of `shortcut="A"`; bottleneck blocks: in the first block of every stage).

    Args:
        depth: weighted layers on the main path (convolutions and the classifier), as in the
            model's name. Alone (block_type and stage_blocks None) one of 18, 34, 50, 101, 152,
            which sets them to the paper's ImageNet layout; None alone means 50. With
            stage_blocks, None or the depth they make.
        block_type: "basic" or "bottleneck"; with stage_blocks (or matching `depth`).
        stage_blocks: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
        stage_widths: base filters per stage (a bottleneck block outputs 4x); None:
            width * 2**s for stage s (from 0).
        stage_strides: the stride of each stage's first block, 1 or 2; None: 1 for the first
            stage, 2 for the others.
        stem: "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, for 32x32 inputs).
        width: filters of the stem, and of the first stage unless stage_widths says otherwise.
        stride_in: where a bottleneck block that halves the resolution strides: "1x1" (its
            first 1x1 conv; the paper, keras.applications; the default) or "3x3" (torchvision's
            and TF official models' "v1.5"). Not for basic blocks (they stride in their first
            3x3 conv). 0.2's `variant="v1"`/`"v1.5"` still reads as "1x1"/"3x3".
        shortcut: where the shape changes, "B" projects the shortcut (1x1 conv + BN; the paper's
            ImageNet ResNets, keras.applications) or "A" pads it with zero channels (no
            parameters; the paper's CIFAR ResNets; basic blocks only).
        residual: False builds the plain twin: no shortcuts (see above).
        zero_init_residual: start every block's last BN gamma at zero (residual only).
        stochastic_depth_rate: drop-path rate of the last block; block i of n gets
            rate * i / (n - 1), linearly increasing from 0 (Huang et al. 2016; residual only).
        num_classes: number of classes.
        include_top: end with the classifier head (global average pool -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        dropout: dropout rate before the classifier.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_shape: shape of one image, (height, width, channels) in the data format's order;
            None: (None, None, 3), any size.
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy (e.g. "mixed_float16"); None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    RENAMED_ARGUMENTS = RENAMED_STRIDE_IN

    def __init__(
        self,
        depth: int | None = None,
        block_type: str | None = None,
        stage_blocks: Any = None,
        stage_widths: Any = None,
        stage_strides: Any = None,
        stem: str = "imagenet",
        width: int = 64,
        stride_in: str | None = None,
        shortcut: str = "B",
        residual: bool = True,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        num_classes: int = 1000,
        include_top: bool = True,
        pooling: str | None = None,
        dropout: float = 0.0,
        classifier_activation: Any = "softmax",
        input_shape: tuple | None = None,
        use_bias: bool = True,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1.001e-5,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(locals(), **kwargs)

    @classmethod
    def _check_arguments(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        depth, block_type, stage_blocks = resolve_layout(
            arguments["depth"], arguments["block_type"], arguments["stage_blocks"]
        )
        width = check_positive_int("width", arguments["width"])
        residual = check_bool("residual", arguments["residual"])
        zero_init_residual = check_bool("zero_init_residual", arguments["zero_init_residual"])
        stochastic_depth_rate = check_rate(
            "stochastic_depth_rate", arguments["stochastic_depth_rate"]
        )
        check_plain_options(residual, zero_init_residual, stochastic_depth_rate)
        return {
            "depth": depth,
            "block_type": block_type,
            "stage_blocks": stage_blocks,
            "stage_widths": check_stage_widths(arguments["stage_widths"], width, stage_blocks),
            "stage_strides": check_stage_strides(arguments["stage_strides"], stage_blocks),
            "stem": check_choice("stem", arguments["stem"], STEMS),
            "width": width,
            "stride_in": _check_stride_in(arguments["stride_in"], block_type),
            "shortcut": _check_shortcut(arguments["shortcut"], block_type),
            "residual": residual,
            "zero_init_residual": zero_init_residual,
            "stochastic_depth_rate": stochastic_depth_rate,
        }

    @classmethod
    def _backbone(
        cls, inputs: Any, arguments: dict[str, Any], dtype: Any
    ) -> tuple[Any, list[FeatureStage]]:
        stem = arguments["stem"]
        options = conv_options(arguments)
        x = ResNetStem(arguments["width"], stem=stem, dtype=dtype, name="conv1", **options)(inputs)
        # Stochastic depth grows linearly with depth, so early features are kept: block i of n
        # drops its branch with probability rate * i / (n - 1) (Huang et al. 2016).
        total, index = sum(arguments["stage_blocks"]), 0
        rate = arguments["stochastic_depth_rate"]
        reduction, stages = STEM_REDUCTION[stem], []
        layout = zip(
            arguments["stage_blocks"],
            arguments["stage_widths"],
            arguments["stage_strides"],
            strict=True,
        )
        for stage, (num_blocks, filters, stride) in enumerate(layout):
            for b in range(num_blocks):
                name = f"conv{stage + 2}_block{b + 1}"
                x = _make_block(
                    arguments,
                    filters,
                    first=b == 0,
                    strides=stride if b == 0 else 1,
                    stochastic_depth_rate=rate * index / max(total - 1, 1),
                    name=name,
                    dtype=dtype,
                )(x)
                index += 1
            reduction *= stride
            stages.append(FeatureStage(f"C{stage + 2}", name, reduction))
        return x, stages

    @classmethod
    def _head(cls, arguments: dict[str, Any]) -> Head:
        return Head("avg")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImageClassifier:
        config = dict(config)
        layout = IMAGENET_LAYOUTS.get(config.get("depth"), (None,))
        if "variant" in config and config.get("block_type", layout[0]) == "basic":
            del config["variant"]  # 0.2 stored it at every depth and ignored it for basic blocks
        return super().from_config(config)

    @property
    def blocks(self) -> list[ResidualBlock]:
        """The residual blocks, conv2_block1 to the last, in order."""
        return [layer for layer in self.layers if isinstance(layer, ResidualBlock)]


def _make_block(
    arguments: dict[str, Any], filters: int, *, first: bool, strides: int, **layer_arguments: Any
) -> ResidualBlock:
    """A residual block of the model: the `first` of its stage or another, of `filters` base
    filters; `layer_arguments` are the block's stochastic_depth_rate, name and dtype."""
    common = {
        "residual": arguments["residual"],
        "zero_init_residual": arguments["zero_init_residual"],
        **layer_arguments,
        **conv_options(arguments),
    }
    if arguments["block_type"] == "basic":
        return BasicBlock(filters, strides=strides, shortcut=arguments["shortcut"], **common)
    expanded = (filters, filters, filters * BOTTLENECK_EXPANSION)
    if first:
        stride_in = arguments["stride_in"]
        return BottleneckBlock(expanded, strides=strides, stride_in=stride_in, **common)
    return IdentityBlock(expanded, **common)


def _check_stride_in(stride_in: Any, block_type: str) -> str | None:
    """`stride_in` checked: a placement for bottleneck blocks ("1x1" by default), None for
    basic blocks, which refuse one instead of ignoring it."""
    if block_type == "bottleneck" and stride_in is None:
        return "1x1"
    if block_type == "bottleneck":
        return check_choice("stride_in", stride_in, STRIDE_PLACEMENTS)
    if stride_in is not None:
        raise ArgumentError(
            "stride_in",
            stride_in,
            "None for block_type='basic'",
            reason=(
                f"stride_in={stride_in!r} places the stride inside a bottleneck block (its first "
                f"1x1 or its 3x3 convolution; 0.2 called it `variant`), but block_type='basic' "
                f"(ResNet-18/34, the CIFAR ResNets) always strides in the first of its two 3x3 "
                f"convolutions. Leave stride_in None, or use block_type='bottleneck'."
            ),
        )
    return None


def _check_shortcut(shortcut: Any, block_type: str) -> str:
    shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
    if shortcut == "A" and block_type == "bottleneck":
        raise ArgumentError(
            "shortcut",
            shortcut,
            "'B' for block_type='bottleneck'",
            reason=(
                "shortcut='A' (zero-padded identity) is for basic blocks, as in ResNet-18/34 and "
                "the CIFAR ResNets; bottleneck blocks (ResNet-50/101/152) project the shortcut "
                "where the shape changes (shortcut='B'), as in the paper."
            ),
        )
    return shortcut
