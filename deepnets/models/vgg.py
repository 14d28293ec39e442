"""VGG: stacks of 3x3 convolutions and max-pools, then a classifier.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015). One class serves VGG11/13/16/19, with or without BatchNorm: the depth only changes
how many convolutions each of the five `VGGBlock`s holds (`VGG_CONFIGS`).
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import check_bool, check_choice, check_positive_int
from deepnets.layers.vgg import VGGBlock
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import FixedInputSize, Head, conv_options

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
        super().__init__(locals(), **kwargs)

    @classmethod
    def _check_arguments(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "depth": check_choice("depth", arguments["depth"], tuple(VGG_CONFIGS)),
            "batch_norm": check_bool("batch_norm", arguments["batch_norm"]),
            "head": check_choice("head", arguments["head"], VGG_HEADS),
            "fc_units": check_positive_int("fc_units", arguments["fc_units"]),
            "width": check_positive_int("width", arguments["width"]),
        }

    @classmethod
    def _fixed_input_size(cls, arguments: dict[str, Any]) -> FixedInputSize | None:
        if arguments["include_top"] and arguments["head"] == "fc":
            return FixedInputSize(
                (224, 224),
                "VGG(head='fc', include_top=True)",
                "use head='cifar' (global pooling), or include_top=False",
            )
        return None

    @classmethod
    def _backbone(
        cls, inputs: Any, arguments: dict[str, Any], dtype: Any
    ) -> tuple[Any, list[FeatureStage]]:
        x, stages = inputs, []
        widths = [arguments["width"] * multiplier for multiplier in (1, 2, 4, 8, 8)]
        for i, (num_convs, width) in enumerate(
            zip(VGG_CONFIGS[arguments["depth"]], widths, strict=True)
        ):
            x = VGGBlock(
                width,
                num_convs=num_convs,
                batch_norm=arguments["batch_norm"],
                dtype=dtype,
                name=f"block{i + 1}",
                **conv_options(arguments),
            )(x)
            stages.append(FeatureStage(f"C{i + 1}", f"block{i + 1}", reduction=2 ** (i + 1)))
        return x, stages

    @classmethod
    def _head(cls, arguments: dict[str, Any]) -> Head:
        if arguments["head"] == "fc":
            return Head("flatten", hidden_units=(arguments["fc_units"],) * 2)
        return Head("avg")

    @property
    def blocks(self) -> list[VGGBlock]:
        """The five `VGGBlock`s, from the input on."""
        return [layer for layer in self.layers if isinstance(layer, VGGBlock)]
