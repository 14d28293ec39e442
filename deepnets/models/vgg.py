"""VGG: stacks of 3x3 convolutions and max-pools, then a classifier.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015). One class serves VGG11/13/16/19, with or without BatchNorm: the depth only changes
how many convolutions each of the five `VGGBlock`s holds (`VGG_CONFIGS`).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import check_choice, check_positive_int, check_rate
from deepnets.layers.vgg import VGGBlock
from deepnets.models.base import ImageClassifier

keras = tf.keras

# Convolutions per block; the blocks have width x (1, 2, 4, 8, 8) filters.
VGG_CONFIGS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_HEADS = ("fc", "cifar")


@keras.utils.register_keras_serializable(package="deepnets")
class VGG(ImageClassifier):
    """VGG11/13/16/19, optionally with BatchNorm.

    With the defaults, `VGG(depth=16)` is keras.applications' VGG16 layer for layer (same
    parameter count, and `deepnets.models.load_keras_applications_weights` copies its weights).

    Args:
        depth: 11, 13, 16 or 19.
        batch_norm: BatchNorm after every convolution (the "_bn" variants).
        num_classes: number of classes.
        include_top: end with the classifier head.
        pooling: with `include_top=False`: None, "avg" or "max".
        head: "fc" (flatten -> fc_units -> fc_units -> classes, the paper's head) or "cifar"
            (global average pool -> dropout -> classes, for small inputs).
        fc_units: width of the two hidden layers of the "fc" head (4096 in the paper).
        dropout: dropout rate in the head.
        width: filters of the first block; the others have 2x, 4x, 8x, 8x.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_channels: channels of the input images.
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
    """

    def __init__(
        self,
        depth: int = 16,
        batch_norm: bool = False,
        num_classes: int = 1000,
        include_top: bool = True,
        pooling: str | None = None,
        head: str = "fc",
        fc_units: int = 4096,
        dropout: float = 0.5,
        width: int = 64,
        classifier_activation: Any = "softmax",
        input_channels: int = 3,
        use_bias: bool = True,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-3,
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
        self.depth = check_choice("depth", depth, tuple(VGG_CONFIGS))
        self.batch_norm = bool(batch_norm)
        self.head_type = check_choice("head", head, VGG_HEADS)
        self.fc_units = check_positive_int("fc_units", fc_units)
        self.dropout = check_rate("dropout", dropout)
        self.width = check_positive_int("width", width)
        self.conv_options = {
            "use_bias": use_bias,
            "bn_momentum": bn_momentum,
            "bn_epsilon": bn_epsilon,
            "kernel_initializer": kernel_initializer,
            "kernel_regularizer": kernel_regularizer,
            "data_format": self.data_format,
        }
        self.blocks = [
            VGGBlock(
                self.width * multiplier,
                num_convs=num_convs,
                batch_norm=self.batch_norm,
                dtype=self.dtype_policy,
                name=f"block{i + 1}",
                **self.conv_options,
            )
            for i, (num_convs, multiplier) in enumerate(
                zip(VGG_CONFIGS[self.depth], (1, 2, 4, 8, 8), strict=True)
            )
        ]
        self._set_features(self.blocks)
        if self.head_type == "fc":
            self._make_top(
                "flatten", (self.fc_units, self.fc_units), self.dropout, kernel_regularizer
            )
        else:
            self._make_top("avg", (), self.dropout, kernel_regularizer)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        options = dict(self.blocks[0].get_config())
        config.update(
            {
                "depth": self.depth,
                "batch_norm": self.batch_norm,
                "head": self.head_type,
                "fc_units": self.fc_units,
                "dropout": self.dropout,
                "width": self.width,
                **{key: options[key] for key in self.conv_options},
            }
        )
        return config
