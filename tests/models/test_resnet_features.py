"""ResNet specifics: stage outputs C2..C5, stems, blocks, stochastic depth and zero-init."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

import deepnets
from deepnets.layers import BasicBlock, BottleneckBlock, IdentityBlock, ResNetStem

keras = tf.keras


@pytest.mark.parametrize(
    "stem, strides",
    [("imagenet", (4, 8, 16, 32)), ("cifar", (1, 2, 4, 8))],
)
def test_stage_outputs_have_expected_strides_and_channels(stem, strides):
    model = deepnets.build_model("resnet50", width=4, stem=stem, include_top=False)
    x = images((64, 64, 3))
    stages = model.stage_outputs(x)
    assert list(stages) == ["C2", "C3", "C4", "C5"]
    assert [info["reduction"] for info in model.feature_info] == list(strides)
    assert [info["layer"] for info in model.feature_info] == [
        "conv2_block3",
        "conv3_block4",
        "conv4_block6",
        "conv5_block3",
    ]
    for (name, y), stride, channels in zip(stages.items(), strides, (16, 32, 64, 128), strict=True):
        assert tuple(y.shape) == (2, 64 // stride, 64 // stride, channels), name
    np.testing.assert_allclose(stages["C5"], model(x), atol=1e-6)


def test_block_types_per_depth():
    r18 = deepnets.build_model("resnet18")
    r50 = deepnets.build_model("resnet50")
    assert isinstance(r50.get_layer("conv1"), ResNetStem) and r50.stem == "imagenet"
    assert [b.name for b in r50.blocks[:4]] == [
        "conv2_block1",
        "conv2_block2",
        "conv2_block3",
        "conv3_block1",
    ]
    assert all(isinstance(b, BasicBlock) for b in r18.blocks) and len(r18.blocks) == 8
    assert len(r50.blocks) == 16
    firsts = [r50.blocks[i] for i in (0, 3, 7, 13)]
    assert all(isinstance(b, BottleneckBlock) for b in firsts)
    assert sum(isinstance(b, IdentityBlock) for b in r50.blocks) == 12
    assert [b.strides for b in firsts] == [1, 2, 2, 2]


def test_stochastic_depth_rate_grows_linearly_to_the_last_block():
    model = deepnets.build_model("resnet50", stochastic_depth_rate=0.3)
    rates = [b.stochastic_depth_rate for b in model.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    np.testing.assert_allclose(np.diff(rates), 0.3 / 15, atol=1e-9)


def test_zero_init_residual_model_starts_with_zero_residual_gammas():
    model = deepnets.build_model("resnet18", width=4, zero_init_residual=True)
    model.build((None, 32, 32, 3))
    gammas = [b.bn2.gamma.numpy() for b in model.blocks]
    assert all(np.all(g == 0) for g in gammas)
    plain = deepnets.build_model("resnet18", width=4)
    plain.build((None, 32, 32, 3))
    assert all(np.all(b.bn2.gamma.numpy() == 1) for b in plain.blocks)


def test_include_top_false_pooling_options():
    x = images((32, 32, 3))
    fmap = deepnets.build_model("resnet18", width=4, include_top=False)(x)
    avg = deepnets.build_model("resnet18", width=4, include_top=False, pooling="avg")
    mx = deepnets.build_model("resnet18", width=4, include_top=False, pooling="max")
    assert fmap.shape == (2, 1, 1, 32)
    assert avg(x).shape == (2, 32) and mx(x).shape == (2, 32)


def test_logits_vs_softmax_head():
    x = images((32, 32, 3))
    logits_model = deepnets.build_model("vgg11", width=4, head="cifar", classifier_activation=None)
    logits = logits_model(x).numpy()
    soft = deepnets.build_model("vgg11", width=4, head="cifar")
    soft.build((None, 32, 32, 3))
    soft.set_weights(logits_model.get_weights())
    np.testing.assert_allclose(soft(x), tf.nn.softmax(logits), atol=1e-6)
    assert np.any(logits < 0)
