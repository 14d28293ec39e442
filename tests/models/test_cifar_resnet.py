"""The CIFAR ResNets of He et al. 2016, section 4.2, as `ResNet` presets: layout, shortcuts..."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

import deepnets
from deepnets.checks import ArgumentError
from deepnets.layers import BasicBlock, ResNetStem
from deepnets.models import ResNet, cifar_resnet_arguments

keras = tf.keras


def _sublayers(model, cls):
    return [s for s in model._flatten_layers() if isinstance(s, cls)]


@pytest.mark.parametrize("name, n", [("resnet20", 3), ("resnet56", 9), ("plain32", 5)])
def test_layout_is_the_papers(name, n):
    model = deepnets.build_model(name)
    assert isinstance(model, ResNet) and model.depth == 6 * n + 2
    assert (model.block_type, model.stage_blocks, model.stage_widths) == (
        "basic",
        (n, n, n),
        (16, 32, 64),
    )
    stem = model.get_layer("conv1")
    assert isinstance(stem, ResNetStem) and stem.stem == "cifar"
    assert stem.conv.kernel.shape == (3, 3, 3, 16) and stem.conv.strides == (1, 1)
    blocks = model.blocks
    assert all(isinstance(b, BasicBlock) for b in blocks) and len(blocks) == 3 * n
    assert [b.name for b in blocks[n - 1 : n + 1]] == [f"conv2_block{n}", "conv3_block1"]
    assert [b.filters for b in blocks] == [16] * n + [32] * n + [64] * n
    assert [b.strides for b in blocks] == [1] * n + ([2] + [1] * (n - 1)) * 2
    assert [layer.name for layer in model.layers] == [
        "images",
        "conv1",
        *(b.name for b in blocks),
        "classifier",
    ]
    # 6n + 2 weighted layers: 6n + 1 convolutions (no bias, each followed by BN) and the Dense.
    convs = _sublayers(model, keras.layers.Conv2D)
    assert len(convs) == 6 * n + 1 and all(c.bias is None for c in convs)
    assert len(_sublayers(model, keras.layers.BatchNormalization)) == 6 * n + 1
    assert not _sublayers(model, keras.layers.MaxPooling2D)
    assert all(b.shortcut == "A" and b.shortcut_conv is None for b in blocks)
    assert model.get_layer("classifier").predictions.units == 10


def test_features_are_the_three_stages():
    model = deepnets.build_model("resnet20", width=4, input_shape=(32, 32, 3))
    info = model.feature_info
    assert [(i["name"], i["layer"], i["channels"], i["reduction"]) for i in info] == [
        ("C2", "conv2_block3", 4, 1),
        ("C3", "conv3_block3", 8, 2),
        ("C4", "conv4_block3", 16, 4),
    ]
    maps = model.stage_outputs(images((32, 32, 3)))
    assert [tuple(m.shape) for m in maps.values()] == [
        (2, 32, 32, 4),
        (2, 16, 16, 8),
        (2, 8, 8, 16),
    ]


def test_option_b_projects_where_the_shape_changes():
    a = deepnets.build_model("resnet20")
    b = deepnets.build_model("resnet20", shortcut="B")
    projected = [blk.name for blk in b.blocks if blk.shortcut_conv is not None]
    assert projected == ["conv3_block1", "conv4_block1"]
    # 1x1 convs 16->32 and 32->64 without bias, and their BN (gamma, beta, mean, variance).
    assert b.count_params() - a.count_params() == 16 * 32 + 32 * 64 + 4 * (32 + 64)
    x = images((32, 32, 3))
    assert a(x).shape == b(x).shape == (2, 10)


def test_option_a_shortcut_is_subsample_and_zero_channels():
    model = deepnets.build_model("resnet20", width=4, classifier_activation=None)
    block = model.get_layer("conv3_block1")
    block.bn2.gamma.assign(np.zeros(block.bn2.gamma.shape, "float32"))
    x = np.abs(images((16, 16, 4)))
    y = block(x, training=False).numpy()
    assert y.shape == (2, 8, 8, 8)
    np.testing.assert_array_equal(y[..., :4], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., 4:], 0)


def _cifar_resnet(depth, **overrides):
    return ResNet(**{**cifar_resnet_arguments(depth), **overrides})


def test_any_depth_6n_plus_2_and_other_options():
    model = _cifar_resnet(8, num_classes=3, shortcut="B", stochastic_depth_rate=0.2)
    assert len(model.blocks) == 3
    assert [b.stochastic_depth_rate for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    assert model(images((32, 32, 3))).shape == (2, 3)
    gray = _cifar_resnet(8, input_shape=(28, 28, 1), include_top=False, pooling="avg")
    assert gray(images((28, 28, 1))).shape == (2, 64)


def test_channels_first_matches_channels_last():
    last = _cifar_resnet(8, width=4, classifier_activation=None)
    config = {**last.get_config(), "data_format": "channels_first", "input_shape": None}
    first = ResNet.from_config(config)
    first.set_weights(last.get_weights())
    x = images((16, 16, 3))
    np.testing.assert_allclose(
        first(np.transpose(x, (0, 3, 1, 2)), training=False),
        last(x, training=False),
        atol=1e-5,
    )


@pytest.mark.parametrize("depth", [2, 18, 21, 20.0, True])
def test_cifar_depth_must_be_6n_plus_2(depth):
    with pytest.raises(
        ArgumentError, match=r"`depth` must be an integer 6n \+ 2 with n >= 1"
    ) as info:
        cifar_resnet_arguments(depth)
    assert info.value.name == "depth" and info.value.value is depth
