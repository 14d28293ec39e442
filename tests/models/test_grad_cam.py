"""Grad-CAM: on shapes10, whose generator knows where each shape is, a trained model's heat
falls on the shape and an untrained one's does not; every family explains any of its stages."""

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.checks import ArgumentError
from deepnets.data import shapes10_sample
from deepnets.data.offline import SHAPES10_CLASS_NAMES, SHAPES10_MEAN, SHAPES10_STD
from deepnets.layers import ClassifierHead
from deepnets.models import grad_cam, stage_names
from tests.model_cases import small_model

# Solid shapes whose evidence lies on them; a ring's lies in its hole and a texture's or blobs'
# fill most of the image.
CLASSES = [SHAPES10_CLASS_NAMES.index(name) for name in ("disk", "square", "triangle", "plus")]


def shapes(count, seed):
    """(model inputs, labels 0..3, masks) of the CLASSES' images among `count` shapes10 ones."""
    images, labels, masks = shapes10_sample(count, seed)
    keep = np.isin(labels, CLASSES)
    inputs = (images[keep] / 255.0 - np.array(SHAPES10_MEAN)) / np.array(SHAPES10_STD)
    return inputs.astype(np.float32), np.searchsorted(CLASSES, labels[keep]), masks[keep]


def heat_gap(model, inputs, labels, masks):
    """Mean over images of (mean heat inside the shape - mean heat outside it), true class."""
    heat = grad_cam(model, inputs, class_indices=labels).heat
    inside = (heat * masks).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    outside = (heat * (1 - masks)).sum(axis=(1, 2)) / (1 - masks).sum(axis=(1, 2))
    return float(np.mean(inside - outside))


@pytest.fixture(scope="module")
def trained_and_untrained():
    """A 37k-parameter vgg_fast trained on 4,000 images for two epochs (500 steps, about 10
    CPU-seconds; ~80% held-out accuracy), and its heat gaps on 400 held-out images before and
    after training (about 0.01 and 0.18)."""
    train_inputs, train_labels, _ = shapes(10_000, seed=101)
    test = shapes(1_000, seed=202)
    tf.keras.utils.set_random_seed(0)
    model = deepnets.build_model(
        "vgg_fast",
        widths=(16, 32, 32),
        stem_width=8,
        bn_momentum=0.6,
        num_classes=len(CLASSES),
        classifier_activation=None,
        input_shape=(32, 32, 3),
    )
    untrained_gap = heat_gap(model, *test)
    model.compile(
        tf.keras.optimizers.Adam(3e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train_inputs, train_labels, batch_size=16, epochs=2, verbose=0)
    _, accuracy = model.evaluate(test[0], test[1], verbose=0)
    return accuracy, heat_gap(model, *test), untrained_gap


def test_a_trained_models_heat_is_on_the_shape_and_an_untrained_ones_is_not(
    trained_and_untrained,
):
    accuracy, trained_gap, untrained_gap = trained_and_untrained
    print(
        f"accuracy {accuracy:.3f}; heat gap trained {trained_gap:.3f}, "
        f"untrained {untrained_gap:.3f}"
    )
    assert accuracy > 0.6  # chance: 0.25
    assert trained_gap > 0.12
    # A random network's map follows contrast, not the class: it lands as often off the shape.
    assert abs(untrained_gap) < 0.05


@pytest.mark.parametrize("name", ["alexnet_cifar", "vgg11", "resnet18", "resnet20", "vgg_fast"])
def test_every_family_explains_each_of_its_stages(name):
    model = small_model(name)
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    names = stage_names(model)
    for stage in names:
        result = grad_cam(model, images, stage=stage)
        assert result.heat.shape == (2, 32, 32) and result.stage == stage
        assert result.heat.min() >= 0.0 and result.heat.max() <= 1.0
        np.testing.assert_array_equal(result.class_indices, result.probabilities.argmax(axis=1))
    assert grad_cam(model, images).stage == names[-1]
    with pytest.raises(
        ArgumentError, match=f"`stage` must be one of {', '.join(map(repr, names))}"
    ):
        grad_cam(model, images, stage="C9")


def test_the_map_is_of_the_logit_before_a_softmax():
    head = ClassifierHead(3, classifier_activation="softmax")
    features = tf.random.stateless_normal((2, 4, 4, 8), seed=(1, 2))
    np.testing.assert_allclose(
        tf.nn.softmax(head.logits(features)), head(features), rtol=1e-5, atol=1e-6
    )
    logits = small_model("resnet20")
    softmax = small_model("resnet20", classifier_activation="softmax")
    softmax.set_weights(logits.get_weights())
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3))
    np.testing.assert_allclose(
        grad_cam(softmax, images).heat, grad_cam(logits, images).heat, atol=1e-5
    )


def test_what_it_cannot_explain_is_named():
    with pytest.raises(ArgumentError, match="deepnets model"):
        stage_names(tf.keras.Sequential([tf.keras.layers.Dense(2)]))
    with pytest.raises(ArgumentError, match="include_top=True"):
        grad_cam(small_model("resnet20", include_top=False), np.zeros((1, 32, 32, 3)))
    model = small_model("resnet20")
    with pytest.raises(ArgumentError, match="class_indices"):
        grad_cam(model, np.zeros((1, 32, 32, 3)), class_indices=[7])
    with pytest.raises(ArgumentError, match="one or more images"):
        grad_cam(model, np.zeros((0, 32, 32, 3)))
