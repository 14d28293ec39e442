"""FastVGG: a small VGG for 32x32 images, shaped for accuracy per minute.

The network of Keller Jordan's airbench (2024), which reaches 94% on CIFAR-10 with about 0.3 PFLOP
of training, in this package's blocks: a 3x3 stem convolution, three `VGGBlock`s of two 3x3
convolutions with BatchNorm and GELU, each halving the resolution with a 2x2 max-pool right after
its first convolution, as airbench's groups do (widths 64, 256, 256), then global max pooling and
a linear classifier: about 2.0M parameters, and 0.30 GFLOP per 32x32 image forward. airbench's
first layer is a fixed 2x2 "whitening" convolution computed from the data: `stem="whiten"` makes
it so (`PatchWhitening` with GELU, 24 channels for RGB, set by `deepnets.train` from the first
training images); the default stem is an ordinary, trained 3x3 convolution.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.checks import (
    check_choice,
    check_int_tuple,
    check_positive_float,
    check_positive_int,
    check_rate,
)
from deepnets.layers.common import conv_bn_options
from deepnets.layers.vgg import ACTIVATIONS, VGGBlock
from deepnets.layers.whitening import PatchWhitening
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import check_top_arguments, model_top, resolve_input_shape

keras = tf.keras

STEMS = ("conv", "whiten")


@keras.utils.register_keras_serializable(package="deepnets")
class FastVGG(ImageClassifier):
    """A 3x3 stem, `len(widths)` VGG blocks with BN, early max-pooling, and a linear classifier.

    Its layers are "stem" (a one-convolution `VGGBlock` without pooling, or a `PatchWhitening`),
    "block1"... (the blocks; `model.blocks` lists them) and "classifier"; its features are the
    block outputs "C1", "C2", "C3" (strides 2, 4, 8).

    Args:
        widths: filters of each block, (64, 256, 256) as airbench's.
        stem_width: filters of the stem convolution (with `stem="conv"`).
        stem: "conv" (a trained 3x3 convolution with BN) or "whiten" (airbench's fixed 2x2
            patch-whitening convolution with a trained bias, computed from data by
            `PatchWhitening.adapt`; the image shrinks by one pixel).
        activation: "gelu" (airbench's) or "relu".
        num_classes: number of classes.
        include_top: end with the classifier (global max pool -> classes).
        pooling: with `include_top=False`: None, "avg" or "max".
        dropout: dropout rate before the classifier.
        logit_scale: the classifier's logits are multiplied by it (airbench's: 1/9).
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        input_shape: shape of one image; None: (None, None, 3), any size.
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy; None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        widths: Any = (64, 256, 256),
        stem_width: int = 32,
        stem: str = "conv",
        activation: str = "gelu",
        num_classes: int = 10,
        include_top: bool = True,
        pooling: str | None = None,
        dropout: float = 0.0,
        logit_scale: float = 1.0,
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
        widths = list(check_int_tuple("widths", widths))
        stem_width = check_positive_int("stem_width", stem_width)
        stem = check_choice("stem", stem, STEMS)
        activation = check_choice("activation", activation, ACTIVATIONS)
        num_classes, include_top, pooling, classifier_activation = check_top_arguments(
            num_classes, include_top, pooling, classifier_activation
        )
        dropout = check_rate("dropout", dropout)
        logit_scale = check_positive_float("logit_scale", logit_scale)
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
        common = {"batch_norm": True, "activation": activation, "dtype": policy, **options}

        inputs = keras.Input(shape=input_shape, name="images")
        if stem == "whiten":
            x = PatchWhitening(
                kernel_size=2,
                activation=activation,
                data_format=options["data_format"],
                dtype=policy,
                name="stem",
            )(inputs)
        else:
            x = VGGBlock(stem_width, num_convs=1, pool=False, name="stem", **common)(inputs)
        stages = []
        for i, width in enumerate(widths):
            x = VGGBlock(
                width, num_convs=2, pool_position="first_conv", name=f"block{i + 1}", **common
            )(x)
            stages.append(FeatureStage(f"C{i + 1}", f"block{i + 1}", 2 ** (i + 1)))
        outputs = model_top(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            head_pooling="max",
            dropout=dropout,
            logit_scale=logit_scale,
            kernel_regularizer=options["kernel_regularizer"],
            data_format=options["data_format"],
            dtype=policy,
        )
        super().__init__(
            inputs,
            outputs,
            stages=stages,
            arguments={
                "widths": widths,
                "stem_width": stem_width,
                "stem": stem,
                "activation": activation,
                "num_classes": num_classes,
                "include_top": include_top,
                "pooling": pooling,
                "dropout": dropout,
                "logit_scale": logit_scale,
                "classifier_activation": classifier_activation,
                "input_shape": input_shape,
                **options,
            },
            dtype=policy,
            **kwargs,
        )

    @property
    def blocks(self) -> list[VGGBlock]:
        """The VGG blocks after the stem, in order."""
        return [layer for layer in self.layers if layer.name.startswith("block")]
