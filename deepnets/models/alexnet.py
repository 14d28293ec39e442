"""AlexNet: five convolutions, three max-pools and three fully connected layers.

Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks" (NIPS 2012), as one tower (the paper split it over two GPUs): 96-256-384-384-256
filters, local response normalization after the first two convolutions, 4096-4096 dropout head.
The "cifar" variant keeps the shape of the network for 32x32 inputs: 5x5/1 first convolution,
64-192-384-256-256 filters (the registry's "alexnet_cifar" also drops LRN and uses a
1024-wide head).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.layers.common import check_choice, check_positive_int, check_rate, fresh_initializer
from deepnets.layers.lrn import LocalResponseNormalization
from deepnets.models.base import ImageClassifier

keras = tf.keras

# variant -> first-layer padding, then (filters, kernel, stride, LRN after, max-pool after) per conv
ALEXNET_CONFIGS = {
    "imagenet": (
        2,
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
        (
            (64, 5, 1, True, True),
            (192, 5, 1, True, True),
            (384, 3, 1, False, False),
            (256, 3, 1, False, False),
            (256, 3, 1, False, True),
        ),
    ),
}


@keras.utils.register_keras_serializable(package="deepnets")
class AlexNet(ImageClassifier):
    """AlexNet, in the paper's ImageNet layout or a CIFAR-sized one.

    Args:
        variant: "imagenet" (224x224 inputs; 11x11/4 first conv) or "cifar" (32x32; 5x5/1).
        num_classes: number of classes.
        include_top: end with the classifier head (flatten -> fc_units -> fc_units -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        fc_units: width of the two hidden layers (4096 in the paper).
        dropout: dropout rate after each hidden layer (0.5 in the paper).
        local_response_norm: LRN after the first two convolutions, as in the paper.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_channels: channels of the input images.
        kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
    """

    def __init__(
        self,
        variant: str = "imagenet",
        num_classes: int = 1000,
        include_top: bool = True,
        pooling: str | None = None,
        fc_units: int = 4096,
        dropout: float = 0.5,
        local_response_norm: bool = True,
        classifier_activation: Any = "softmax",
        input_channels: int = 3,
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
        self.variant = check_choice("variant", variant, tuple(ALEXNET_CONFIGS))
        self.fc_units = check_positive_int("fc_units", fc_units)
        self.dropout = check_rate("dropout", dropout)
        self.local_response_norm = bool(local_response_norm)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        fmt, policy = self.data_format, self.dtype_policy
        padding, convs = ALEXNET_CONFIGS[self.variant]
        features = []
        if padding:
            features.append(
                keras.layers.ZeroPadding2D(padding, data_format=fmt, dtype=policy, name="pad")
            )
        for i, (filters, kernel, stride, lrn, pool) in enumerate(convs):
            features.append(
                keras.layers.Conv2D(
                    filters,
                    kernel,
                    strides=stride,
                    padding="valid" if stride > 1 else "same",
                    activation="relu",
                    kernel_initializer=fresh_initializer(self.kernel_initializer),
                    kernel_regularizer=self.kernel_regularizer,
                    data_format=fmt,
                    dtype=policy,
                    name=f"conv{i + 1}",
                )
            )
            if lrn and self.local_response_norm:
                features.append(
                    LocalResponseNormalization(data_format=fmt, dtype=policy, name=f"lrn{i + 1}")
                )
            if pool:
                features.append(
                    keras.layers.MaxPooling2D(
                        3, strides=2, data_format=fmt, dtype=policy, name=f"pool{i + 1}"
                    )
                )
        self._set_features(features)
        self._make_top(
            "flatten", (self.fc_units, self.fc_units), self.dropout, self.kernel_regularizer
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "variant": self.variant,
                "fc_units": self.fc_units,
                "dropout": self.dropout,
                "local_response_norm": self.local_response_norm,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer is not None
                else None,
            }
        )
        return config
