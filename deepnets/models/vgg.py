"""VGG: stacks of 3x3 convolutions and max-pools, then a classifier.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015). One class serves VGG11/13/16/19, with or without BatchNorm: the depth only changes
how many convolutions each of the five `VGGBlock`s holds (`VGG_CONFIGS`).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.checks import check_bool, check_choice, check_positive_int, check_rate
from deepnets.layers.common import conv_bn_options
from deepnets.layers.vgg import VGGBlock
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import check_top_arguments, model_top, resolve_input_shape

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
    Its features are the outputs of the five blocks, "C1".."C5" (strides 2..32); `model.blocks`
    lists the `VGGBlock`s.

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
        input_shape: shape of one image, (height, width, channels) in the data format's order;
            None: (224, 224, 3) with the "fc" head (it flattens a fixed-size map), else
            (None, None, 3).
        use_bias, bn_momentum, bn_epsilon, kernel_initializer, kernel_regularizer: conv options.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        dtype: dtype policy (e.g. "mixed_float16"); None for Keras' global policy.
        **kwargs: `keras.Model` arguments (name, trainable).
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
        input_shape: tuple | None = None,
        use_bias: bool = True,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-3,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        # === Arguments ===
        depth = check_choice("depth", depth, tuple(VGG_CONFIGS))
        batch_norm = check_bool("batch_norm", batch_norm)
        num_classes, include_top, pooling, classifier_activation = check_top_arguments(
            num_classes, include_top, pooling, classifier_activation
        )
        head = check_choice("head", head, VGG_HEADS)
        fc_units = check_positive_int("fc_units", fc_units)
        dropout = check_rate("dropout", dropout)
        width = check_positive_int("width", width)
        options = conv_bn_options(
            use_bias=use_bias,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            data_format=data_format,
        )
        data_format = options["data_format"]
        flattens = include_top and head == "fc"
        input_shape = resolve_input_shape(
            input_shape,
            data_format,
            fixed_size=(224, 224) if flattens else None,
            owner="VGG(head='fc', include_top=True)",
            alternative="use head='cifar' (global pooling), or include_top=False",
        )
        policy = keras.dtype_policies.get(dtype)

        # === Functional graph ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = inputs
        stages = []
        multipliers = (1, 2, 4, 8, 8)
        for i, (num_convs, multiplier) in enumerate(
            zip(VGG_CONFIGS[depth], multipliers, strict=True)
        ):
            block = VGGBlock(
                width * multiplier,
                num_convs=num_convs,
                batch_norm=batch_norm,
                dtype=policy,
                name=f"block{i + 1}",
                **options,
            )
            x = block(x)
            stages.append(FeatureStage(f"C{i + 1}", block.name, reduction=2 ** (i + 1)))
        outputs = model_top(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            head_pooling="flatten" if head == "fc" else "avg",
            hidden_units=(fc_units, fc_units) if head == "fc" else (),
            dropout=dropout,
            kernel_regularizer=options["kernel_regularizer"],
            data_format=data_format,
            dtype=policy,
        )
        super().__init__(
            inputs,
            outputs,
            stages=stages,
            arguments={
                "depth": depth,
                "batch_norm": batch_norm,
                "num_classes": num_classes,
                "include_top": include_top,
                "pooling": pooling,
                "head": head,
                "fc_units": fc_units,
                "dropout": dropout,
                "width": width,
                "classifier_activation": classifier_activation,
                "input_shape": input_shape,
                **options,
            },
            dtype=policy,
            **kwargs,
        )

    @property
    def blocks(self) -> list[VGGBlock]:
        """The five `VGGBlock`s, from the input on."""
        return [layer for layer in self.layers if isinstance(layer, VGGBlock)]
