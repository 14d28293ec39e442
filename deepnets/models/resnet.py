"""ResNet-18/34/50/101/152: a stem, four stages of residual blocks, a classifier.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016). One class serves every
depth: `RESNET_CONFIGS` says which block and how many per stage. Stage s (s = 2..5, named as in
the paper and keras.applications: conv2_block1 ...) has `width * 2**(s-2)` base filters and halves
the resolution except stage 2. Its features are the stage outputs C2..C5, for detection or
segmentation.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.checks import check_bool, check_choice, check_positive_int, check_rate
from deepnets.layers.bottleneck import BOTTLENECK_VARIANTS, BottleneckBlock, IdentityBlock
from deepnets.layers.common import conv_bn_options
from deepnets.layers.residual import BasicBlock, ResidualBlock
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


@keras.utils.register_keras_serializable(package="deepnets")
class ResNet(ImageClassifier):
    """ResNet of any standard depth.

    With the defaults, `ResNet(depth=50)` is keras.applications' ResNet50 layer for layer (bias
    in every conv, BN epsilon 1.001e-5, stride in the first 1x1 of a bottleneck), so
    `deepnets.models.load_keras_applications_weights` can copy its ImageNet weights. Its
    features are the stage outputs "C2".."C5" (strides 4..32 with the ImageNet stem, 1..8 with
    the CIFAR stem); `model.get_layer("conv1")` is the `ResNetStem` and `model.blocks` lists the
    residual blocks.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: number of classes.
        include_top: end with the classifier head (global average pool -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        stem: "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, for 32x32 inputs).
        width: filters of the stem and of stage 2; stage s has width * 2**(s-2) base filters.
        variant: bottleneck stride placement, "v1" (first 1x1) or "v1.5" (the 3x3).
        zero_init_residual: start every block's last BN gamma at zero.
        stochastic_depth_rate: drop-path rate of the last block; block i of n gets
            rate * i / (n - 1), linearly increasing from 0 (Huang et al. 2016).
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
        zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
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
        reduction = STEM_REDUCTION[stem]
        block_type, stage_sizes = RESNET_CONFIGS[depth]
        total = sum(stage_sizes)
        index = 0
        stages = []
        for stage, num_blocks in enumerate(stage_sizes):
            filters = width * 2**stage
            expanded = (filters, filters, filters * BOTTLENECK_EXPANSION)
            for b in range(num_blocks):
                strides = 2 if (b == 0 and stage > 0) else 1
                residual = {
                    "zero_init_residual": zero_init_residual,
                    # Stochastic depth grows linearly with depth: early features are kept.
                    "stochastic_depth_rate": stochastic_depth_rate * index / max(total - 1, 1),
                    "dtype": policy,
                    "name": f"conv{stage + 2}_block{b + 1}",
                    **options,
                }
                if block_type == "basic":
                    block = BasicBlock(filters, strides=strides, **residual)
                elif b == 0:
                    block = BottleneckBlock(expanded, strides=strides, variant=variant, **residual)
                else:
                    block = IdentityBlock(expanded, **residual)
                x = block(x)
                reduction *= strides
                index += 1
            stages.append(FeatureStage(f"C{stage + 2}", block.name, reduction))
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
