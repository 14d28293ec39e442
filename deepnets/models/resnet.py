"""ResNet-18/34/50/101/152: a stem, four stages of residual blocks, a classifier.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016). One class serves every
depth: `RESNET_CONFIGS` says which block and how many per stage. Stage s (s = 2..5, named as in
the paper and keras.applications: conv2_block1 ...) has `width * 2**(s-2)` base filters and halves
the resolution except stage 2. Its features are the stage outputs C2..C5, for detection or
segmentation. `residual=False` builds the plain twin the paper compares with (section 4.1).
`residual_stages` stacks the stages for this class and for `CifarResNet`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from deepnets.checks import ArgumentError, check_bool, check_choice, check_positive_int, check_rate
from deepnets.layers.bottleneck import BOTTLENECK_VARIANTS, BottleneckBlock, IdentityBlock
from deepnets.layers.common import conv_bn_options
from deepnets.layers.residual import SHORTCUTS, BasicBlock, ResidualBlock, check_plain_options
from deepnets.layers.stems import STEMS, ResNetStem
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import check_top_arguments, model_top, resolve_input_shape

keras = tf.keras

# depth -> (block type, blocks per stage)
RESNET_CONFIGS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BOTTLENECK_EXPANSION = 4
STEM_REDUCTION = {"imagenet": 4, "cifar": 1}


def residual_stages(
    x: Any,
    stage_sizes: Sequence[int],
    make_block: Callable[..., ResidualBlock],
    *,
    stochastic_depth_rate: float,
    reduction: int,
) -> tuple[Any, list[FeatureStage]]:
    """Apply stages of residual blocks to the feature map `x`.

    Stage s (from 0) holds `stage_sizes[s]` blocks named conv{s+2}_block{b+1} (the paper's and
    keras.applications' names); the first block of every stage but the first has stride 2.
    Stochastic depth grows linearly with depth, so early features are kept: block i of n drops
    its branch with probability `stochastic_depth_rate * i / (n - 1)` (Huang et al. 2016).

    Args:
        x: the stem's output (a symbolic tensor).
        stage_sizes: blocks per stage.
        make_block: `make_block(stage, index, strides=..., stochastic_depth_rate=..., name=...)`
            returns block `index` (from 0) of stage `stage` (from 0).
        stochastic_depth_rate: the last block's drop-path rate.
        reduction: the stem's total stride.

    Returns:
        The last block's output, and one `FeatureStage` "C{s+2}" per stage (its last block).
    """
    total = sum(stage_sizes)
    index = 0
    stages = []
    for stage, num_blocks in enumerate(stage_sizes):
        for b in range(num_blocks):
            strides = 2 if (b == 0 and stage > 0) else 1
            block = make_block(
                stage,
                b,
                strides=strides,
                stochastic_depth_rate=stochastic_depth_rate * index / max(total - 1, 1),
                name=f"conv{stage + 2}_block{b + 1}",
            )
            x = block(x)
            reduction *= strides
            index += 1
        stages.append(FeatureStage(f"C{stage + 2}", block.name, reduction))
    return x, stages


@keras.utils.register_keras_serializable(package="deepnets")
class ResNet(ImageClassifier):
    """ResNet of any standard depth.

    With the defaults, `ResNet(depth=50)` is keras.applications' ResNet50 layer for layer (bias
    in every conv, BN epsilon 1.001e-5, stride in the first 1x1 of a bottleneck), so
    `deepnets.models.load_keras_applications_weights` can copy its ImageNet weights. Its
    features are the stage outputs "C2".."C5" (strides 4..32 with the ImageNet stem, 1..8 with
    the CIFAR stem); `model.get_layer("conv1")` is the `ResNetStem` and `model.blocks` lists the
    residual blocks.

    With `residual=False` it is the paper's plain network of the same depth: the same layers
    without the shortcuts, so without their additions and without the projection shortcuts'
    1x1 conv + BN (ResNet-18/34: in the first block of stages 3-5, so the plain twin has the
    parameter count of `shortcut="A"`; ResNet-50/101/152: in the first block of every stage).

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: number of classes.
        include_top: end with the classifier head (global average pool -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        stem: "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, for 32x32 inputs).
        width: filters of the stem and of stage 2; stage s has width * 2**(s-2) base filters.
        variant: bottleneck stride placement, "v1" (first 1x1) or "v1.5" (the 3x3).
        shortcut: where the shape changes, "B" projects the shortcut (1x1 conv + BN; the paper's
            ImageNet ResNets, keras.applications) or "A" pads it with zero channels (no
            parameters; depths 18 and 34 only: a bottleneck ResNet always projects).
        residual: False builds the plain twin: no shortcuts (see above).
        zero_init_residual: start every block's last BN gamma at zero (residual only).
        stochastic_depth_rate: drop-path rate of the last block; block i of n gets
            rate * i / (n - 1), linearly increasing from 0 (Huang et al. 2016; residual only).
        dropout: dropout rate before the classifier.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_shape: shape of one image, (height, width, channels) in the data format's order;
            None: (None, None, 3), any size.
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy (e.g. "mixed_float16"); None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        depth: int = 50,
        num_classes: int = 1000,
        include_top: bool = True,
        pooling: str | None = None,
        stem: str = "imagenet",
        width: int = 64,
        variant: str = "v1",
        shortcut: str = "B",
        residual: bool = True,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
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
        # === Arguments ===
        depth = check_choice("depth", depth, tuple(RESNET_CONFIGS))
        num_classes, include_top, pooling, classifier_activation = check_top_arguments(
            num_classes, include_top, pooling, classifier_activation
        )
        stem = check_choice("stem", stem, STEMS)
        width = check_positive_int("width", width)
        variant = check_choice("variant", variant, BOTTLENECK_VARIANTS)
        shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
        residual = check_bool("residual", residual)
        zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
        check_plain_options(residual, zero_init_residual, stochastic_depth_rate)
        block_type, stage_sizes = RESNET_CONFIGS[depth]
        if shortcut == "A" and block_type == "bottleneck":
            raise ArgumentError(
                "shortcut",
                shortcut,
                "'B' for depth 50, 101 or 152",
                reason=(
                    f"shortcut='A' (zero-padded identity) is for the basic-block depths 18 and "
                    f"34; ResNet-{depth}'s bottleneck blocks project the shortcut where the "
                    f"shape changes (shortcut='B'), as in the paper."
                ),
            )
        dropout = check_rate("dropout", dropout)
        options = conv_bn_options(
            use_bias=use_bias,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            data_format=data_format,
        )
        input_shape = resolve_input_shape(input_shape, options["data_format"])
        policy = keras.dtype_policies.get(dtype)

        # === Functional graph ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = ResNetStem(width, stem=stem, dtype=policy, name="conv1", **options)(inputs)
        shared = {"residual": residual, "zero_init_residual": zero_init_residual}

        def make_block(stage: int, b: int, *, strides: int, **arguments: Any) -> ResidualBlock:
            arguments = {**arguments, **shared, "dtype": policy, **options}
            filters = width * 2**stage
            expanded = (filters, filters, filters * BOTTLENECK_EXPANSION)
            if block_type == "basic":
                return BasicBlock(filters, strides=strides, shortcut=shortcut, **arguments)
            if b == 0:
                return BottleneckBlock(expanded, strides=strides, variant=variant, **arguments)
            return IdentityBlock(expanded, **arguments)

        x, stages = residual_stages(
            x,
            stage_sizes,
            make_block,
            stochastic_depth_rate=stochastic_depth_rate,
            reduction=STEM_REDUCTION[stem],
        )
        outputs = model_top(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            head_pooling="avg",
            dropout=dropout,
            kernel_regularizer=options["kernel_regularizer"],
            data_format=options["data_format"],
            dtype=policy,
        )
        super().__init__(
            inputs,
            outputs,
            stages=stages,
            arguments={
                "depth": depth,
                "num_classes": num_classes,
                "include_top": include_top,
                "pooling": pooling,
                "stem": stem,
                "width": width,
                "variant": variant,
                "shortcut": shortcut,
                "residual": residual,
                "zero_init_residual": zero_init_residual,
                "stochastic_depth_rate": stochastic_depth_rate,
                "dropout": dropout,
                "classifier_activation": classifier_activation,
                "input_shape": input_shape,
                **options,
            },
            dtype=policy,
            **kwargs,
        )

    @property
    def blocks(self) -> list[ResidualBlock]:
        """The residual blocks, conv2_block1 to the last, in order."""
        return [layer for layer in self.layers if isinstance(layer, ResidualBlock)]
