"""`CifarResNet`: 0.2's class of the CIFAR ResNets, now a name that builds a `ResNet`.

The CIFAR ResNets (ResNet-20 ... 110 and their plain twins) are presets of `ResNet` (see
`deepnets.models.resnet_layout.cifar_resnet_arguments` and the registry's "resnet20" ...). 0.2
saved them as "deepnets>CifarResNet" with 0.2's arguments; this registered name reads such files,
and 0.2 code that calls `CifarResNet(depth=...)`, into the equivalent `ResNet`.
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.models.resnet import ResNet
from deepnets.models.resnet_layout import cifar_resnet_arguments


@keras.utils.register_keras_serializable(package="deepnets")
class CifarResNet(ResNet):
    """0.2's CIFAR ResNet: `CifarResNet(depth, **arguments)` returns the equivalent `ResNet`.

    The result is a `ResNet` (not a `CifarResNet`) with the same layers, weights layout and
    outputs as 0.2's; it saves as a `ResNet`.

    Args:
        depth: 6n + 2: 20, 32, 44, 56, 110 (the paper's), or another such as 8 or 1202.
        **arguments: 0.2's other `CifarResNet` arguments (width, shortcut, residual,
            num_classes, use_bias, ...), which are `ResNet`'s too, with 0.2's CIFAR defaults
            (`CIFAR_RESNET_DEFAULTS`); and Keras' name, trainable and dtype.

    Returns:
        A `ResNet` with the CIFAR stem and three stages of n basic blocks.
    """

    def __new__(cls, depth: int = 20, **arguments: Any) -> ResNet:
        return ResNet(**{**cifar_resnet_arguments(depth), **arguments})
