"""Files and code of deepnets 0.2 still load: `CifarResNet`, `variant` and FastVGG's `stem`.

tests/models/v0_2 holds `.keras` files that 0.2 (commit edac325) saved with `make_files.py`, the
outputs 0.2 computed with them, and `configs.json`: every model as 0.2 serialized it.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.models import FastVGG, ResNet, cifar_resnet_arguments
from deepnets.models.cifar_resnet import CifarResNet

keras = tf.keras
FILES = Path(__file__).parent / "v0_2"
CONFIGS = json.loads((FILES / "configs.json").read_text())
OUTPUTS = np.load(FILES / "outputs.npz")
# `serialize_keras_object(build_model("resnet20"))` under 0.2, as JSON: a class that is now a
# ResNet preset, with 0.2's arguments.
CIFAR_RESNET_0_2 = json.loads(
    """
    {"module": "deepnets.models.cifar_resnet", "class_name": "CifarResNet", "config": {
     "name": "resnet20", "trainable": true, "dtype": {"module": "keras", "class_name":
     "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "depth": 20,
     "num_classes": 10, "include_top": true, "pooling": null, "width": 16, "shortcut": "A",
     "residual": true, "zero_init_residual": false, "stochastic_depth_rate": 0.0, "dropout": 0.0,
     "classifier_activation": "softmax", "input_shape": [null, null, 3], "use_bias": false,
     "bn_momentum": 0.9, "bn_epsilon": 1e-05, "kernel_initializer": {"module":
     "keras.initializers", "class_name": "HeNormal", "config": {"seed": null, "input_axes": null,
     "output_axes": null}, "registered_name": null}, "kernel_regularizer": null, "data_format":
     "channels_last"}, "registered_name": "deepnets>CifarResNet", "build_config": {"input_shape":
     [null, null, null, 3]}, "compile_config": {}}
    """
)
# What each 0.2 file holds now: its class and the attributes that changed names or meaning.
FILE_MODELS = {
    "cifar_resnet8": (ResNet, {"depth": 8, "stage_blocks": (1, 1, 1), "stem": "cifar"}),
    "resnet18": (ResNet, {"depth": 18, "stride_in": None}),
    "resnet50_v1_5": (ResNet, {"depth": 50, "stride_in": "3x3"}),
    "vgg_fast_whiten": (FastVGG, {"stem_layer": "whiten"}),
    "blocks_functional": (keras.Model, {}),
}
# The registered model (and overrides) that each config-only 0.2 model is today.
CONFIG_MODELS = {
    "plain20": ("plain20", {"num_classes": 3}),
    "resnet50": ("resnet50", {}),
    "alexnet_cifar": ("alexnet_cifar", {}),
    "vgg11_bn": ("vgg11_bn", {"width": 2, "head": "cifar"}),
    "vgg_fast": ("vgg_fast", {}),
}


def _load_quietly(load, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return load(*args)


@pytest.mark.parametrize("file", sorted(FILE_MODELS))
def test_0_2_keras_file_loads_with_the_same_outputs(file, tmp_path):
    cls, attributes = FILE_MODELS[file]
    model = _load_quietly(keras.models.load_model, FILES / f"{file}.keras")
    assert isinstance(model, cls)
    assert {name: getattr(model, name) for name in attributes} == attributes
    x = OUTPUTS["images"]
    np.testing.assert_allclose(model(x, training=False), OUTPUTS[file], rtol=1e-6, atol=1e-6)
    # Saved again, it is a file of this version: the new names only, and no warning to load.
    model.save(tmp_path / "again.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        again = keras.models.load_model(tmp_path / "again.keras")
    np.testing.assert_allclose(again(x, training=False), OUTPUTS[file], rtol=1e-6, atol=1e-6)
    if isinstance(model, deepnets.models.ImageClassifier):
        config = again.get_config()
        assert "variant" not in config and (cls is not FastVGG or "stem" not in config)


def test_the_0_2_config_files_name_the_old_arguments():
    """The pinned configs are 0.2's: the test below reads what it should."""
    assert CONFIGS["cifar_resnet8"]["registered_name"] == "deepnets>CifarResNet"
    assert CONFIGS["resnet50_v1_5"]["config"]["variant"] == "v1.5"
    assert CONFIGS["resnet18"]["config"]["variant"] == "v1"  # stored, and ignored, by 0.2
    assert CONFIGS["vgg_fast_whiten"]["config"]["stem"] == "whiten"
    layers = CONFIGS["blocks_functional"]["config"]["layers"]
    assert [x["config"]["variant"] for x in layers if x["class_name"] == "BottleneckBlock"] == [
        "v1.5"
    ]


@pytest.mark.parametrize("key", sorted(CONFIG_MODELS))
def test_0_2_configs_deserialize_into_todays_registered_models(key):
    name, overrides = CONFIG_MODELS[key]
    model = _load_quietly(keras.utils.deserialize_keras_object, CONFIGS[key])
    today = deepnets.build_model(name, **overrides)
    assert type(model) is type(today)
    assert model.get_config() == {**today.get_config(), "name": model.name}
    assert model.count_params() == today.count_params()


def test_a_literal_0_2_cifar_resnet_config_is_resnet20():
    model = keras.utils.deserialize_keras_object(CIFAR_RESNET_0_2)
    today = deepnets.build_model("resnet20")
    assert type(model) is ResNet
    assert model.get_config() == today.get_config()
    model.set_weights(today.get_weights())  # the same weights in the same order
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), today(x, training=False), atol=1e-6)


def test_cifar_resnet_calls_of_0_2_build_the_resnet():
    model = CifarResNet(depth=8, width=4, shortcut="B", num_classes=3)
    assert type(model) is ResNet
    expected = ResNet(
        **{**cifar_resnet_arguments(8), "width": 4, "shortcut": "B", "num_classes": 3}
    )
    assert model.get_config() == {**expected.get_config(), "name": model.name}


def test_a_0_2_variant_on_a_basic_block_resnet_loads_as_0_2_ignored_it():
    config = json.loads(json.dumps(CONFIGS["resnet18"]))
    config["config"]["variant"] = "v1.5"
    model = keras.utils.deserialize_keras_object(config)
    assert model.stride_in is None and "variant" not in model.get_config()


@pytest.mark.parametrize(
    "name, old, new, value",
    [
        ("resnet50", "variant", "stride_in", ("v1.5", "3x3")),
        ("resnet101", "variant", "stride_in", ("v1", "1x1")),
        ("vgg_fast", "stem", "stem_layer", ("whiten", "whiten")),
    ],
)
def test_old_argument_names_still_build_with_a_deprecation_warning(name, old, new, value):
    assert old in deepnets.get_model_spec(name).allowed_overrides()  # `--model_overrides` too
    with pytest.warns(DeprecationWarning, match=rf"`{old}` \(0.2\) is now `{new}`"):
        model = deepnets.build_model(name, input_shape=(32, 32, 3), **{old: value[0]})
    assert getattr(model, new) == value[1]
    today = deepnets.build_model(name, input_shape=(32, 32, 3), **{new: value[1]})
    assert model.get_config() == {**today.get_config(), "name": model.name}
    with pytest.raises(TypeError, match=rf"got `{old}`={value[0]!r} and `{new}`"):
        type(model)(**{old: value[0], new: value[1]})


def test_the_0_2_variant_on_a_basic_block_resnet_is_refused_when_passed():
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match=r"`stride_in`.*`variant`"),
    ):
        deepnets.build_model("resnet18", variant="v1.5")


def test_resnet_stem_is_still_the_input_regime():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        model = deepnets.build_model("resnet18", stem="cifar", width=4)
    assert model.stem == "cifar" and model.get_layer("conv1").conv.kernel.shape[:2] == (3, 3)
