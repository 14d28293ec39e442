"""Every registered model offers the same feature API: feature_info, stage_outputs, extractor."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images, is_cifar_resnet, small_input_shape, small_model

import deepnets

keras = tf.keras
NAMES = deepnets.list_models()
EXPECTED_NAMES = {
    "ResNet": ["C2", "C3", "C4", "C5"],
    "cifar": ["C2", "C3", "C4"],  # the CIFAR ResNets' stages conv2..conv4, strides 1, 2, 4
    "VGG": ["C1", "C2", "C3", "C4", "C5"],
    "AlexNet": ["C3", "C4", "C5"],  # the three max-pools, by their ImageNet-layout stride
    "FastVGG": ["C1", "C2", "C3"],  # the three blocks, strides 2, 4, 8
}


@pytest.mark.parametrize("name", NAMES)
def test_stage_outputs_match_feature_info(name):
    model = small_model(name)
    size = small_input_shape(name)[0]
    info = model.feature_info
    family = "cifar" if is_cifar_resnet(name) else type(model).__name__
    assert [i["name"] for i in info] == EXPECTED_NAMES[family]
    assert all(set(i) == {"name", "layer", "channels", "reduction"} for i in info)
    stages = model.stage_outputs(images(small_input_shape(name)))
    assert list(stages) == [i["name"] for i in info]
    reductions = [i["reduction"] for i in info]
    assert reductions == sorted(reductions) and len(set(reductions)) == len(reductions)
    for i in info:
        y = stages[i["name"]]
        assert y.shape[0] == 2 and y.shape[-1] == i["channels"], i
        # The reduction is nominal: AlexNet's valid 3x3/2 max-pools drop one border pixel.
        assert y.shape[1] == y.shape[2] and 0 <= size // i["reduction"] - y.shape[1] <= 1, i
        if type(model).__name__ != "AlexNet":
            assert y.shape[1] * i["reduction"] == size, i


@pytest.mark.parametrize("name", NAMES)
def test_feature_extractor_shares_the_weights_and_returns_a_dict(name):
    model = small_model(name)
    x = images(small_input_shape(name))
    extractor = model.feature_extractor()
    assert isinstance(extractor, keras.Model)
    assert {id(w) for w in extractor.weights} <= {id(w) for w in model.weights}
    before = extractor(x)
    assert isinstance(before, dict) and list(before) == [i["name"] for i in model.feature_info]
    kernel = model.trainable_weights[0]  # the first convolution's kernel
    kernel.assign(np.random.default_rng(1).normal(size=kernel.shape).astype("float32"))
    after = extractor(x)
    for stage in before:
        assert not np.allclose(before[stage], after[stage]), stage
        np.testing.assert_allclose(after[stage], model.stage_outputs(x)[stage], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_last_stage_is_the_backbone_output(name):
    backbone = small_model(name, include_top=False)
    x = images(small_input_shape(name))
    last = backbone.feature_info[-1]["name"]
    np.testing.assert_allclose(backbone.stage_outputs(x)[last], backbone(x), atol=1e-6)


def test_feature_extractor_selects_stages_and_rejects_unknown_names():
    model = small_model("resnet18")
    extractor = model.feature_extractor(["C5", "C3"])
    assert list(extractor(images((32, 32, 3)))) == ["C3", "C5"]  # the model's order
    with pytest.raises(ValueError, match=r"`stages` must be one of 'C2', 'C3', 'C4', 'C5'"):
        model.feature_extractor(["C1"])


def test_features_work_channels_first_and_symbolically():
    model = deepnets.build_model(
        "vgg11", width=4, include_top=False, data_format="channels_first", input_shape=(3, 32, 32)
    )
    assert [i["channels"] for i in model.feature_info] == [4, 8, 16, 32, 32]
    inputs = keras.Input((3, 32, 32))
    maps = model.stage_outputs(inputs)  # a detection head can wire them into its own model
    assert tuple(maps["C3"].shape) == (None, 16, 4, 4)
