"""AlexNet: five convolutions, three max-pools and three fully connected layers.

Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks" (NIPS 2012), as one tower (the paper split it over two GPUs): 96-256-384-384-256
filters, local response normalization after the first two convolutions, 4096-4096 dropout head.
The "cifar" stem keeps the shape of the network for 32x32 inputs: 5x5/1 first convolution,
64-192-384-256-256 filters (the registry's "alexnet_cifar" also drops LRN and uses a
1024-wide head).
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import check_bool, check_choice, check_positive_int
from deepnets.layers.common import fresh_initializer
from deepnets.layers.lrn import LocalResponseNormalization
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import FixedInputSize, Head

# stem -> (first-layer padding, the image size its head is made for, then per conv:
# (filters, kernel, stride, LRN after, max-pool after))
ALEXNET_CONFIGS = {
    "imagenet": (
        2,
        (224, 224),
        (
            (96, 11, 4, True, True),
            (256, 5, 1, True, True),
            (384, 3, 1, False, False),
            (384, 3, 1, False, False),
            (256, 3, 1, False, True),
        ),
    ),
    "cifar": (
        0,
        (32, 32),
        (
            (64, 5, 1, True, True),
            (192, 5, 1, True, True),
            (384, 3, 1, False, False),
            (256, 3, 1, False, False),
            (256, 3, 1, False, True),
        ),
    ),
}
# The three max-pools' outputs, named by their stride in the ImageNet layout (8, 16, 32), like
# ResNet's C3..C5, whichever stem.
ALEXNET_STAGE_NAMES = ("C3", "C4", "C5")


@keras.utils.register_keras_serializable(package="deepnets")
class AlexNet(ImageClassifier):
    """AlexNet, with the paper's ImageNet stem or a CIFAR-sized one.

    Its features are the outputs of the three max-pools, "C3", "C4", "C5" (strides 8, 16, 32
    with the ImageNet stem; 2, 4, 8 with the CIFAR stem).

    Args:
        stem: "imagenet" (224x224 inputs; 11x11/4 first conv) or "cifar" (32x32; 5x5/1), the
            word ResNet uses for the same choice.
        num_classes: number of classes.
        include_top: end with the classifier head (flatten -> fc_units -> fc_units -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        fc_units: width of the two hidden layers (4096 in the paper).
        dropout: dropout rate after each hidden layer (0.5 in the paper).
        local_response_norm: LRN after the first two convolutions, as in the paper.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_shape: shape of one image, (height, width, channels) in the data format's order;
            None: with `include_top` (the head flattens a fixed-size map) (224, 224, 3), or
            (32, 32, 3) with the CIFAR stem; else (None, None, 3).
        kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy (e.g. "mixed_float16"); None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        stem: str = "imagenet",
        num_classes: int = 1000,
        include_top: bool = True,
        pooling: str | None = None,
        fc_units: int = 4096,
        dropout: float = 0.5,
        local_response_norm: bool = True,
        classifier_activation: Any = "softmax",
        input_shape: tuple | None = None,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(locals(), **kwargs)

    @classmethod
    def _check_arguments(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "stem": check_choice("stem", arguments["stem"], tuple(ALEXNET_CONFIGS)),
            "fc_units": check_positive_int("fc_units", arguments["fc_units"]),
            "local_response_norm": check_bool(
                "local_response_norm", arguments["local_response_norm"]
            ),
        }

    @classmethod
    def _fixed_input_size(cls, arguments: dict[str, Any]) -> FixedInputSize | None:
        if not arguments["include_top"]:
            return None
        return FixedInputSize(
            ALEXNET_CONFIGS[arguments["stem"]][1],
            "AlexNet(include_top=True)",
            "use include_top=False (with pooling='avg' for a vector)",
        )

    @classmethod
    def _backbone(
        cls, inputs: Any, arguments: dict[str, Any], dtype: Any
    ) -> tuple[Any, list[FeatureStage]]:
        padding, _, convs = ALEXNET_CONFIGS[arguments["stem"]]
        fmt = arguments["data_format"]
        x = inputs
        if padding:
            x = keras.layers.ZeroPadding2D(padding, data_format=fmt, dtype=dtype, name="pad")(x)
        stages = []
        reduction = 1
        for i, (filters, kernel, stride, lrn, pool) in enumerate(convs):
            x = keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding="valid" if stride > 1 else "same",
                activation="relu",
                kernel_initializer=fresh_initializer(arguments["kernel_initializer"]),
                kernel_regularizer=arguments["kernel_regularizer"],
                data_format=fmt,
                dtype=dtype,
                name=f"conv{i + 1}",
            )(x)
            reduction *= stride
            if lrn and arguments["local_response_norm"]:
                x = LocalResponseNormalization(data_format=fmt, dtype=dtype, name=f"lrn{i + 1}")(x)
            if pool:
                x = keras.layers.MaxPooling2D(
                    3, strides=2, data_format=fmt, dtype=dtype, name=f"pool{i + 1}"
                )(x)
                reduction *= 2
                name = ALEXNET_STAGE_NAMES[len(stages)]
                stages.append(FeatureStage(name, f"pool{i + 1}", reduction))
        return x, stages

    @classmethod
    def _head(cls, arguments: dict[str, Any]) -> Head:
        return Head("flatten", hidden_units=(arguments["fc_units"],) * 2)
