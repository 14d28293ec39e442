"""One configurable ResNet: layouts other than the paper's, the presets as data, the checks."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

import deepnets
from deepnets.checks import ArgumentError
from deepnets.layers import BasicBlock, BottleneckBlock, IdentityBlock
from deepnets.models import ResNet, cifar_resnet_arguments
from deepnets.models.resnet_layout import CIFAR_RESNET_DEPTHS, IMAGENET_LAYOUTS

keras = tf.keras


def _conv_bn(k, cin, cout):
    """Parameters of a k x k conv without bias and its BN (gamma, beta, mean, variance)."""
    return k * k * cin * cout + 4 * cout


def test_a_custom_basic_layout_builds_counts_and_reloads(tmp_path):
    model = ResNet(
        block_type="basic",
        stage_blocks=(1, 2),
        stage_widths=(4, 8),
        stage_strides=(2, 1),
        stem="cifar",
        width=2,
        shortcut="A",
        use_bias=False,
        num_classes=3,
        classifier_activation=None,
        input_shape=(16, 16, 3),
    )
    assert (model.depth, model.stage_blocks, model.stage_strides) == (8, (1, 2), (2, 1))
    assert [(b.name, b.filters, b.strides) for b in model.blocks] == [
        ("conv2_block1", 4, 2),
        ("conv3_block1", 8, 1),
        ("conv3_block2", 8, 1),
    ]
    # Option A shortcuts have no parameters: the stem, two 3x3 conv + BN per block, the Dense.
    expected = (
        _conv_bn(3, 3, 2)  # conv1
        + _conv_bn(3, 2, 4) + _conv_bn(3, 4, 4)  # conv2_block1
        + _conv_bn(3, 4, 8) + _conv_bn(3, 8, 8)  # conv3_block1
        + _conv_bn(3, 8, 8) + _conv_bn(3, 8, 8)  # conv3_block2
        + 8 * 3 + 3  # classifier
    )  # fmt: skip
    assert model.count_params() == expected
    assert [(i["name"], i["channels"], i["reduction"]) for i in model.feature_info] == [
        ("C2", 4, 2),
        ("C3", 8, 2),
    ]
    x = images((16, 16, 3))
    expected_logits = model(x, training=False).numpy()
    model.save(tmp_path / "custom.keras")
    loaded = keras.models.load_model(tmp_path / "custom.keras")
    assert type(loaded) is ResNet and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x, training=False), expected_logits, atol=1e-6)


def test_a_custom_bottleneck_layout_strides_in_the_3x3(tmp_path):
    model = ResNet(
        block_type="bottleneck",
        stage_blocks=(1, 2),
        stage_widths=(2, 4),
        stride_in="3x3",
        stem="cifar",
        width=4,
        num_classes=3,
    )
    assert model.depth == 3 * 3 + 2 and model.stage_strides == (1, 2)
    first, second, third = model.blocks
    assert isinstance(first, BottleneckBlock) and first.filters == (2, 2, 8)
    assert isinstance(second, BottleneckBlock) and second.stride_in == "3x3"
    assert second.conv2.strides == (2, 2) and second.conv1.strides == (1, 1)
    assert isinstance(third, IdentityBlock) and third.filters == (4, 4, 16)
    clone = ResNet.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("depth", sorted(IMAGENET_LAYOUTS))
def test_a_depth_alone_is_the_papers_imagenet_layout(depth):
    block_type, stage_blocks = IMAGENET_LAYOUTS[depth]
    model = ResNet(depth=depth, width=2, stem="cifar")
    assert (model.block_type, model.stage_blocks) == (block_type, stage_blocks)
    assert (model.stage_widths, model.stage_strides) == ((2, 4, 8, 16), (1, 2, 2, 2))
    assert model.stride_in == ("1x1" if block_type == "bottleneck" else None)
    block = BasicBlock if block_type == "basic" else (BottleneckBlock, IdentityBlock)
    assert all(isinstance(b, block) for b in model.blocks)
    same = ResNet(block_type=block_type, stage_blocks=stage_blocks, width=2, stem="cifar")
    assert same.get_config() == {**model.get_config(), "name": same.name}


def test_no_layout_argument_is_resnet50():
    model = ResNet(width=2, stem="cifar")
    assert (model.depth, model.block_type, model.stage_blocks) == (50, "bottleneck", (3, 4, 6, 3))


@pytest.mark.parametrize("depth", CIFAR_RESNET_DEPTHS)
def test_the_cifar_presets_are_resnet_arguments(depth):
    spec = deepnets.get_model_spec(f"resnet{depth}")
    arguments = cifar_resnet_arguments(depth)
    assert spec.model_class is ResNet
    assert {**spec.defaults, **spec.fixed} == arguments
    n = (depth - 2) // 6
    assert spec.fixed == {
        "depth": depth,
        "block_type": "basic",
        "stage_blocks": (n,) * 3,
        "stem": "cifar",
    }


def test_registered_presets_are_data_a_builder_states():
    assert deepnets.models.resnet50.__doc__ == (
        "Build resnet50: `ResNet(depth=50, block_type='bottleneck', stage_blocks=(3, 4, 6, 3))`; "
        "see its docstring for overrides."
    )
    spec = deepnets.get_model_spec("plain20")
    assert spec.fixed["residual"] is False and spec.defaults["shortcut"] == "A"


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("resnet18", {"stride_in": "3x3"}),
        ("resnet34", {"stride_in": "1x1"}),
        ("resnet20", {"stride_in": "1x1"}),
    ],
)
def test_stride_placement_on_basic_blocks_is_refused_not_ignored(name, overrides):
    with pytest.raises(ArgumentError) as info:
        deepnets.build_model(name, **overrides)
    assert (info.value.name, info.value.value) == ("stride_in", overrides["stride_in"])
    message = str(info.value)
    assert "block_type='basic'" in message and "bottleneck" in message
    assert "0.2 called it `variant`" in message


@pytest.mark.parametrize(
    "arguments, name, pattern",
    [
        ({"depth": 18, "block_type": "bottleneck"}, "block_type", r"ResNet-18 has basic blocks"),
        ({"stage_blocks": (2, 2)}, "block_type", r"stage_blocks needs a block_type"),
        ({"block_type": "wide", "stage_blocks": (2, 2)}, "block_type", r"'basic', 'bottleneck'"),
        ({"stage_blocks": (), "block_type": "basic"}, "stage_blocks", r"positive integers"),
        ({"stage_blocks": (2, 0), "block_type": "basic"}, "stage_blocks", r"positive integers"),
        (
            {"depth": 20, "block_type": "basic", "stage_blocks": (2, 2, 2, 2)},
            "depth",
            r"makes a ResNet of depth 18, not depth=20",
        ),
        (
            {"depth": 18.0, "block_type": "basic", "stage_blocks": (2, 2, 2, 2)},
            "depth",
            r"not depth=18\.0",
        ),
        (
            {"depth": 18, "stage_widths": (8, 16)},
            "stage_widths",
            r"stage_widths=\(8, 16\) has 2 values, but stage_blocks=\(2, 2, 2, 2\) has 4",
        ),
        ({"depth": 18, "stage_strides": (1, 2, 3, 2)}, "stage_strides", r"each 1 or 2"),
        ({"depth": 18, "stage_strides": (1, 2)}, "stage_strides", r"give one per stage"),
        ({"depth": 50, "stride_in": "v1.5"}, "stride_in", r"one of '1x1', '3x3'; got 'v1.5'"),
    ],
)
def test_bad_layouts_name_the_argument(arguments, name, pattern):
    with pytest.raises(ArgumentError, match=pattern) as info:
        ResNet(width=2, stem="cifar", **arguments)
    assert info.value.name == name
