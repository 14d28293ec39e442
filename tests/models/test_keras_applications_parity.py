"""deepnets models equal keras.applications': copy the weights, compare the outputs.

The reference models are built with weights=None (no download); their random weights are copied
into the deepnets model, and both must give the same outputs on random input.
"""

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.models import load_keras_applications_weights

keras = tf.keras
# The same convolutions on the same device: VGG's channels_last outputs are bitwise equal. deepnets'
# BatchNormalization runs TensorFlow's fused kernel where Keras' runs separate ops, which on some
# CPUs round differently (seen: 2e-6 of the output's scale after ResNet-152's 155 layers), so
# outputs are compared relative to their scale; a wrong weight mapping is off by its whole scale.
RELATIVE_TOLERANCE = 1e-5
# A channels_first model runs other convolution kernels, which round differently.
TOLERANCE_CHANNELS_FIRST = 1e-4


def _random_images(shape, batch=2, seed=0):
    # Caffe-style inputs as keras.applications' preprocess_input gives: roughly [-128, 128].
    return (np.random.default_rng(seed).uniform(-1, 1, (batch, *shape)) * 128).astype("float32")


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _assert_same_outputs(ours, reference, what):
    reference = np.asarray(reference)
    diff, scale = _max_diff(ours, reference), float(np.max(np.abs(reference)))
    print(f"{what} max abs difference: {diff:.3g} (outputs up to {scale:.3g})")
    assert diff <= RELATIVE_TOLERANCE * scale


@pytest.mark.parametrize("name, app", [("vgg16", "VGG16"), ("resnet50", "ResNet50")])
def test_full_imagenet_model_matches_reference(name, app):
    reference = getattr(keras.applications, app)(weights=None, classifier_activation=None)
    model = deepnets.build_model(name, classifier_activation=None)
    load_keras_applications_weights(model, reference)
    x = _random_images((224, 224, 3))
    _assert_same_outputs(
        model(x, training=False), reference(x, training=False), f"{name} logits vs {app}"
    )


@pytest.mark.parametrize(
    "name, app", [("vgg19", "VGG19"), ("resnet101", "ResNet101"), ("resnet152", "ResNet152")]
)
def test_backbone_matches_reference(name, app):
    reference = getattr(keras.applications, app)(
        weights=None, include_top=False, input_shape=(64, 64, 3)
    )
    model = deepnets.build_model(name, include_top=False)
    load_keras_applications_weights(model, reference)
    x = _random_images((64, 64, 3))
    _assert_same_outputs(
        model(x, training=False), reference(x, training=False), f"{name} features vs {app}"
    )


@pytest.mark.parametrize("name, app", [("vgg16", "VGG16"), ("resnet50", "ResNet50")])
def test_weights_file_channels_first_model_matches_channels_last_reference(name, app, tmp_path):
    # A user's local keras.applications weights file (legacy .h5, as keras.applications saves),
    # loaded into a channels_first deepnets model.
    reference = getattr(keras.applications, app)(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    weights_file = tmp_path / f"{name}_notop.h5"
    reference.save(weights_file)
    model = deepnets.build_model(name, include_top=False, data_format="channels_first")
    load_keras_applications_weights(model, str(weights_file))
    x = _random_images((32, 32, 3))
    ours = np.transpose(model(np.transpose(x, (0, 3, 1, 2)), training=False), (0, 2, 3, 1))
    diff = _max_diff(ours, reference(x, training=False))
    print(f"{name} channels_first from .h5 max abs difference: {diff:.3g}")
    assert diff <= TOLERANCE_CHANNELS_FIRST


def test_incompatible_model_is_refused_with_the_argument_to_change():
    reference = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    with pytest.raises(ValueError, match=r"stem='imagenet'.*stem='cifar'"):
        load_keras_applications_weights(
            deepnets.build_model("resnet50", include_top=False, stem="cifar"), reference
        )
    with pytest.raises(ValueError, match=r"keras.applications has no resnet18"):
        load_keras_applications_weights(deepnets.build_model("resnet18"), reference)
    with pytest.raises(ValueError, match=r"no counterpart|include_top"):
        load_keras_applications_weights(deepnets.build_model("resnet50"), reference)
    with pytest.raises(FileNotFoundError, match="No weights file"):
        load_keras_applications_weights(deepnets.build_model("resnet50"), "/nonexistent.h5")
