"""The CIFAR ResNets: ResNet-20/32/44/56/110 (and any depth 6n + 2), and their plain twins.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.2: a 3x3 conv
with 16 filters, BN and ReLU; three stages of n `BasicBlock`s with 16, 32 and 64 filters on
32x32, 16x16 and 8x8 maps (the first block of stages 2 and 3 has stride 2); global average
pooling and a Dense classifier. 6n + 2 weighted layers, no max-pool, no conv bias, BN after
every conv. The shortcuts are the paper's option A: identities, which subsample and pad with
zero channels where the shape changes, so they add no parameters (Table 6: 0.27M parameters
for ResNet-20 ... 1.7M for ResNet-110). The plain nets of Figure 6 are the same without the
shortcuts (`residual=False`), with the same parameter count.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.checks import (
    ArgumentError,
    check_bool,
    check_choice,
    check_positive_int,
    check_rate,
    is_int,
)
from deepnets.layers.common import conv_bn_options
from deepnets.layers.residual import SHORTCUTS, BasicBlock, ResidualBlock, check_plain_options
from deepnets.layers.stems import ResNetStem
from deepnets.models.base import ImageClassifier
from deepnets.models.common import check_top_arguments, model_top, resolve_input_shape
from deepnets.models.resnet import residual_stages

keras = tf.keras

# The depths of the paper's Table 6 (n = 3, 5, 7, 9, 18); any 6n + 2 builds.
CIFAR_RESNET_DEPTHS = (20, 32, 44, 56, 110)
NUM_STAGES = 3


def check_cifar_depth(depth: Any) -> int:
    """Return `depth` if it is 6n + 2 for an integer n >= 1."""
    if not is_int(depth) or depth < 8 or (depth - 2) % 6 != 0:
        raise ArgumentError(
            "depth", depth, "an integer 6n + 2 with n >= 1, e.g. 20, 32, 44, 56, 110 or 1202"
        )
    return depth


@keras.utils.register_keras_serializable(package="deepnets")
class CifarResNet(ImageClassifier):
    """ResNet for 32x32 images, depth 6n + 2: three stages of n basic blocks.

    Its features are the stage outputs "C2", "C3", "C4" (strides 1, 2, 4; the layers
    conv2_block{n}, conv3_block{n}, conv4_block{n}), named as the matching stages of `ResNet`
    with the CIFAR stem. The layers are "conv1" (the `ResNetStem`), "conv{s}_block{b}" (the
    blocks; `model.blocks` lists them) and "classifier".

    Args:
        depth: 6n + 2: 20, 32, 44, 56, 110 (the paper's), or another such as 8 or 1202.
        num_classes: number of classes (10: CIFAR-10, the paper's dataset).
        include_top: end with the classifier head (global average pool -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        width: filters of the stem and of the first stage (16); stage s has width * 2**(s-1).
        shortcut: where the shape changes, "A" pads the subsampled input with zero channels
            (the paper's CIFAR choice, no parameters) or "B" projects it (1x1 conv + BN).
        residual: False builds the plain twin (the paper's "plain-20" ...): the same layers
            without shortcuts or additions, and the same parameter count as with shortcut "A".
        zero_init_residual: start every block's last BN gamma at zero (residual only).
        stochastic_depth_rate: drop-path rate of the last block, rising linearly from 0 at the
            first (Huang et al. 2016; residual only).
        dropout: dropout rate before the classifier.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_shape: shape of one image, (height, width, channels) in the data format's order;
            None: (None, None, 3), any size (the paper's is 32x32).
        use_bias: convolutions with a bias; False as in the paper (each is followed by BN).
        bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy (e.g. "mixed_float16"); None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        include_top: bool = True,
        pooling: str | None = None,
        width: int = 16,
        shortcut: str = "A",
        residual: bool = True,
        zero_init_residual: bool = False,
        stochastic_depth_rate: float = 0.0,
        dropout: float = 0.0,
        classifier_activation: Any = "softmax",
        input_shape: tuple | None = None,
        use_bias: bool = False,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-5,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        # === Arguments ===
        depth = check_cifar_depth(depth)
        num_classes, include_top, pooling, classifier_activation = check_top_arguments(
            num_classes, include_top, pooling, classifier_activation
        )
        width = check_positive_int("width", width)
        shortcut = check_choice("shortcut", shortcut, SHORTCUTS)
        residual = check_bool("residual", residual)
        zero_init_residual = check_bool("zero_init_residual", zero_init_residual)
        stochastic_depth_rate = check_rate("stochastic_depth_rate", stochastic_depth_rate)
        check_plain_options(residual, zero_init_residual, stochastic_depth_rate)
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
        x = ResNetStem(width, stem="cifar", dtype=policy, name="conv1", **options)(inputs)

        def make_block(stage: int, b: int, **arguments: Any) -> ResidualBlock:
            return BasicBlock(
                width * 2**stage,
                shortcut=shortcut,
                residual=residual,
                zero_init_residual=zero_init_residual,
                dtype=policy,
                **arguments,
                **options,
            )

        blocks_per_stage = (depth - 2) // (2 * NUM_STAGES)
        x, stages = residual_stages(
            x,
            (blocks_per_stage,) * NUM_STAGES,
            make_block,
            stochastic_depth_rate=stochastic_depth_rate,
            reduction=1,
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
                "width": width,
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
        """The basic blocks, conv2_block1 to the last, in order."""
        return [layer for layer in self.layers if isinstance(layer, ResidualBlock)]
