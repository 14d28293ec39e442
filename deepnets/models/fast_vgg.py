"""FastVGG: a small VGG for 32x32 images, shaped for accuracy per minute.

The network of Keller Jordan's airbench (2024), which reaches 94% on CIFAR-10 with about 0.3 PFLOP
of training, in this package's blocks: a 3x3 stem convolution, three `VGGBlock`s of two 3x3
convolutions with BatchNorm and GELU, each halving the resolution with a 2x2 max-pool right after
its first convolution, as airbench's groups do (widths 64, 256, 256), then global max pooling and
a linear classifier: about 2.0M parameters, and 0.30 GFLOP per 32x32 image forward. airbench's
first layer is a fixed 2x2 "whitening" convolution computed from the data: `stem_layer="whiten"`
makes it so (`PatchWhitening` with GELU, 24 channels for RGB, set by `deepnets.train` from the
first training images); the default stem is an ordinary, trained 3x3 convolution.
"""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import check_choice, check_int_tuple, check_positive_float, check_positive_int
from deepnets.layers.renamed import Renamed
from deepnets.layers.vgg import ACTIVATIONS, VGGBlock
from deepnets.layers.whitening import PatchWhitening
from deepnets.models.base import FeatureStage, ImageClassifier
from deepnets.models.common import Head, conv_options

# The first layer: a trained 3x3 convolution, or airbench's fixed patch-whitening convolution.
STEM_LAYERS = ("conv", "whiten")


@keras.utils.register_keras_serializable(package="deepnets")
class FastVGG(ImageClassifier):
    """A 3x3 stem, `len(widths)` VGG blocks with BN, early max-pooling, and a linear classifier.

    Its layers are "stem" (a one-convolution `VGGBlock` without pooling, or a `PatchWhitening`),
    "block1"... (the blocks; `model.blocks` lists them) and "classifier"; its features are the
    block outputs "C1", "C2", "C3" (strides 2, 4, 8).

    Args:
        widths: filters of each block, (64, 256, 256) as airbench's.
        stem_width: filters of the stem convolution (with `stem_layer="conv"`).
        stem_layer: the type of the first layer, "conv" (a trained 3x3 convolution with BN) or
            "whiten" (airbench's fixed 2x2 patch-whitening convolution with a trained bias,
            computed from data by `PatchWhitening.adapt`; the image shrinks by one pixel).
            0.2 called it `stem`, which `ResNet` and `AlexNet` use for the input size regime;
            `stem=` still reads as `stem_layer=`.
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

    RENAMED_ARGUMENTS = {"stem": Renamed("stem_layer")}

    def __init__(
        self,
        widths: Any = (64, 256, 256),
        stem_width: int = 32,
        stem_layer: str = "conv",
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
        super().__init__(locals(), **kwargs)

    @classmethod
    def _check_arguments(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "widths": list(check_int_tuple("widths", arguments["widths"])),
            "stem_width": check_positive_int("stem_width", arguments["stem_width"]),
            "stem_layer": check_choice("stem_layer", arguments["stem_layer"], STEM_LAYERS),
            "activation": check_choice("activation", arguments["activation"], ACTIVATIONS),
            "logit_scale": check_positive_float("logit_scale", arguments["logit_scale"]),
        }

    @classmethod
    def _backbone(
        cls, inputs: Any, arguments: dict[str, Any], dtype: Any
    ) -> tuple[Any, list[FeatureStage]]:
        activation = arguments["activation"]
        common = {"batch_norm": True, "activation": activation, "dtype": dtype}
        common.update(conv_options(arguments))
        if arguments["stem_layer"] == "whiten":
            x = PatchWhitening(
                kernel_size=2,
                activation=activation,
                data_format=arguments["data_format"],
                dtype=dtype,
                name="stem",
            )(inputs)
        else:
            stem_width = arguments["stem_width"]
            x = VGGBlock(stem_width, num_convs=1, pool=False, name="stem", **common)(inputs)
        stages = []
        for i, width in enumerate(arguments["widths"]):
            name = f"block{i + 1}"
            x = VGGBlock(width, num_convs=2, pool_position="first_conv", name=name, **common)(x)
            stages.append(FeatureStage(f"C{i + 1}", name, 2 ** (i + 1)))
        return x, stages

    @classmethod
    def _head(cls, arguments: dict[str, Any]) -> Head:
        return Head("max", logit_scale=arguments["logit_scale"])

    @property
    def blocks(self) -> list[VGGBlock]:
        """The VGG blocks after the stem, in order."""
        return [layer for layer in self.layers if layer.name.startswith("block")]
