"""ResNet-18/34/50/101/152: a stem, four stages of residual blocks, a classifier.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016). One class serves every
depth: `RESNET_CONFIGS` says which block and how many per stage. Stage s (s = 2..5, named as in
the paper and keras.applications: conv2_block1 ...) has `width * 2**(s-2)` base filters and halves
the resolution except stage 2. `stage_outputs()` returns C2..C5 for detection or segmentation.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import check_choice, check_positive_int, check_rate
from deepnets.layers.residual import (
    BOTTLENECK_VARIANTS,
    BasicBlock,
    BottleneckBlock,
    IdentityBlock,
)
from deepnets.layers.stems import STEMS, ResNetStem
from deepnets.models.base import ImageClassifier

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


@keras.utils.register_keras_serializable(package="deepnets")
class ResNet(ImageClassifier):
    """ResNet of any standard depth.

    With the defaults, `ResNet(depth=50)` is keras.applications' ResNet50 layer for layer (bias
    in every conv, BN epsilon 1.001e-5, stride in the first 1x1 of a bottleneck), so
    `deepnets.models.load_keras_applications_weights` can copy its ImageNet weights.

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
        input_channels: channels of the input images.
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
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
        input_channels: int = 3,
        use_bias: bool = True,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1.001e-5,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            include_top=include_top,
            pooling=pooling,
            classifier_activation=classifier_activation,
            input_channels=input_channels,
            data_format=data_format,
            **kwargs,
        )
        self.depth = check_choice("depth", depth, tuple(RESNET_CONFIGS))
        self.stem_type = check_choice("stem", stem, STEMS)
        self.width = check_positive_int("width", width)
        self.variant = check_choice("variant", variant, BOTTLENECK_VARIANTS)
        self.zero_init_residual = bool(zero_init_residual)
        self.stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
        self.dropout = check_rate("dropout", dropout)
        options = {
            "use_bias": use_bias,
            "bn_momentum": bn_momentum,
            "bn_epsilon": bn_epsilon,
            "kernel_initializer": kernel_initializer,
            "kernel_regularizer": kernel_regularizer,
            "data_format": self.data_format,
            "dtype": self.dtype_policy,
        }
        self.stem = ResNetStem(self.width, kind=self.stem_type, name="conv1", **options)
        block_type, stage_sizes = RESNET_CONFIGS[self.depth]
        total = sum(stage_sizes)
        self.blocks = []
        self.stage_ends: list[int] = []
        for stage, num_blocks in enumerate(stage_sizes):
            filters = self.width * 2**stage
            for b in range(num_blocks):
                index = len(self.blocks)
                residual = {
                    "zero_init_residual": self.zero_init_residual,
                    # Stochastic depth grows linearly with depth: early features are kept.
                    "stochastic_depth_rate": self.stochastic_depth_rate * index / max(total - 1, 1),
                    "name": f"conv{stage + 2}_block{b + 1}",
                    **options,
                }
                strides = 2 if (b == 0 and stage > 0) else 1
                if block_type == "basic":
                    block = BasicBlock(filters, strides=strides, **residual)
                elif b == 0:
                    expanded = (filters, filters, filters * BOTTLENECK_EXPANSION)
                    block = BottleneckBlock(
                        expanded, strides=strides, variant=self.variant, **residual
                    )
                else:
                    expanded = (filters, filters, filters * BOTTLENECK_EXPANSION)
                    block = IdentityBlock(expanded, **residual)
                self.blocks.append(block)
            self.stage_ends.append(len(self.blocks))
        self._set_features([self.stem, *self.blocks])
        self._make_top("avg", (), self.dropout, kernel_regularizer)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Names of the stage outputs, in order: ("C2", "C3", "C4", "C5")."""
        return tuple(f"C{i + 2}" for i in range(len(self.stage_ends)))

    def stage_outputs(self, inputs: Any, training: bool | None = None) -> dict[str, tf.Tensor]:
        """Run the stem and the stages; return each stage's output by name.

        C2..C5 have strides 4, 8, 16, 32 with the ImageNet stem (1, 2, 4, 8 with the CIFAR stem)
        and width * (1, 2, 4, 8) channels (x4 for bottleneck ResNets).

        Args:
            inputs: a batch of images (tensor or `keras.Input`).
            training: BatchNorm and drop-path mode.

        Returns:
            dict from "C2".."C5" to feature maps.
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        x = self.stem(inputs, training=training)
        outputs = {}
        start = 0
        for name, end in zip(self.stage_names, self.stage_ends, strict=True):
            for block in self.blocks[start:end]:
                x = block(x, training=training)
            outputs[name] = x
            start = end
        return outputs

    def feature_extractor(self, input_shape: tuple = (None, None, 3)) -> keras.Model:
        """A functional model sharing this model's weights whose outputs are C2..C5 (a dict).

        Args:
            input_shape: image shape without the batch dimension.

        Returns:
            `keras.Model` mapping images to {"C2": ..., "C5": ...}.
        """
        inputs = keras.Input(shape=input_shape)
        return keras.Model(inputs, self.stage_outputs(inputs), name=f"{self.name}_features")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        options = self.stem.get_config()
        config.update(
            {
                "depth": self.depth,
                "stem": self.stem_type,
                "width": self.width,
                "variant": self.variant,
                "zero_init_residual": self.zero_init_residual,
                "stochastic_depth_rate": self.stochastic_depth_rate,
                "dropout": self.dropout,
                **{
                    key: options[key]
                    for key in (
                        "use_bias",
                        "bn_momentum",
                        "bn_epsilon",
                        "kernel_initializer",
                        "kernel_regularizer",
                    )
                },
            }
        )
        return config
