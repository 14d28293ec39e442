"""Bad arguments and inputs raise a ValueError naming the argument, value and the choices."""

import numpy as np
import pytest
from model_cases import images

from deepnets.checks import ArgumentError
from deepnets.layers import (
    BasicBlock,
    BottleneckBlock,
    ClassifierHead,
    IdentityBlock,
    LocalResponseNormalization,
    ResNetStem,
    VGGBlock,
)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: VGGBlock(0), r"`filters` must be a positive integer; got 0\."),
        (lambda: VGGBlock(-3), r"`filters` must be a positive integer; got -3\."),
        (lambda: VGGBlock(8, num_convs=0), r"`num_convs` must be a positive integer; got 0\."),
        (lambda: VGGBlock(8, batch_norm=1), r"`batch_norm` must be True or False; got 1\."),
        (
            lambda: BottleneckBlock((4, 0, 16)),
            r"`filters` must be a sequence of 3 positive integers; got \(4, 0, 16\)\.",
        ),
        (lambda: BottleneckBlock((4, 16)), r"`filters` must be a sequence of 3 positive"),
        (lambda: BottleneckBlock((4, 4, 16), strides=3), r"`strides` must be one of 1, 2; got 3\."),
        (
            lambda: BottleneckBlock((4, 4, 16), stride_in="v1.5"),
            r"`stride_in` must be one of '1x1', '3x3'; got 'v1.5'\.",
        ),
        (lambda: IdentityBlock(16), r"`filters` must be a sequence of 3"),
        (
            lambda: BasicBlock(8, stochastic_depth_rate=1.0),
            r"`stochastic_depth_rate` must be a number in \[0, 1\); got 1\.0\.",
        ),
        (
            lambda: ResNetStem(stem="tiny"),
            r"`stem` must be one of 'imagenet', 'cifar'; got 'tiny'\.",
        ),
        (lambda: VGGBlock(8, data_format="NHWC"), r"`data_format` must be one of"),
        (
            lambda: VGGBlock(8, bn_momentum=1.5),
            r"`bn_momentum` must be a number in \[0, 1\); got 1\.5\.",
        ),
        (lambda: VGGBlock(8, bn_epsilon=0), r"`bn_epsilon` must be a finite number > 0; got 0\."),
        (
            lambda: ClassifierHead(10, pooling="mean"),
            r"`pooling` must be one of 'avg', 'max', 'flatten'; got 'mean'\.",
        ),
        (lambda: ClassifierHead(0), r"`num_classes` must be a positive integer; got 0\."),
        (
            lambda: ClassifierHead(10, hidden_units=(8, 0)),
            r"`hidden_units` must be a sequence of positive integers; got \(8, 0\)\.",
        ),
        (
            lambda: ClassifierHead(10, classifier_activation="softmaxx"),
            r"`classifier_activation` must be None \(logits\), 'softmax' or another Keras "
            r"activation name; got 'softmaxx'\.",
        ),
        (lambda: LocalResponseNormalization(size=4), r"`size` must be an odd positive integer"),
        (lambda: BasicBlock(8, shortcut="C"), r"`shortcut` must be one of 'A', 'B'; got 'C'\."),
        (
            lambda: BasicBlock(8, residual=False, zero_init_residual=True),
            r"`zero_init_residual`: zero_init_residual=True needs residual=True",
        ),
        (
            lambda: IdentityBlock((4, 4, 16), residual=False, stochastic_depth_rate=0.1),
            r"`stochastic_depth_rate`: stochastic_depth_rate=0.1 needs residual=True",
        ),
    ],
)
def test_bad_arguments_raise_clear_value_error(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize(
    "make, name, value",
    [
        # True == 1 in Python, so a loose check would take True for stride 1.
        (lambda: BasicBlock(8, strides=True), "strides", True),
        (lambda: VGGBlock(True), "filters", True),
        (lambda: ClassifierHead(2.0), "num_classes", 2.0),
        (lambda: BottleneckBlock((4, 4, True)), "filters", (4, 4, True)),
        (lambda: BasicBlock(8, zero_init_residual=1), "zero_init_residual", 1),
        (lambda: BottleneckBlock((4, 4, 16), residual=1), "residual", 1),
    ],
)
def test_bools_and_floats_are_not_taken_for_ints(make, name, value):
    with pytest.raises(ArgumentError) as info:
        make()
    assert info.value.name == name and info.value.value == value
    assert isinstance(info.value, ValueError)


def test_identity_block_with_wrong_input_channels_names_filters():
    block = IdentityBlock((4, 4, 16))
    with pytest.raises(ValueError, match=r"filters\[2\]=16.*8 channels"):
        block(images((8, 8, 8)))


def test_option_a_cannot_remove_channels_and_names_shortcut():
    block = BasicBlock(4, shortcut="A")
    with pytest.raises(ArgumentError, match=r"cannot take 8 input channels to filters=4") as info:
        block(images((8, 8, 8)))
    assert info.value.name == "shortcut"
    BasicBlock(4, shortcut="B")(images((8, 8, 8)))  # a projection can
    BasicBlock(4, shortcut="A", residual=False)(images((8, 8, 8)))  # a plain block has none


@pytest.mark.parametrize("bad_shape", [(8, 8), (2, 8, 8, 3, 1)])
def test_wrong_rank_input_is_rejected_with_the_shape(bad_shape):
    block = VGGBlock(4)
    with pytest.raises(ValueError, match=r"expects rank-4 image input"):
        block.build(bad_shape)


def test_built_block_rejects_another_channel_count():
    block = BasicBlock(8)
    block(images((8, 8, 8)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 8"):
        block(np.zeros((1, 8, 8, 3), "float32"))
