"""The "caffe" preprocessing that keras.applications ImageNet weights expect is exactly
keras.applications' own `preprocess_input` (resnet50's and vgg16's), on random uint8 images,
through every path an image takes: the training and evaluation pipelines (the tensors they
give), the exported model (SavedModel and .keras) and deepnets.predict (a tiny model's outputs
against model(preprocess_input(images)))."""

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.data import Preprocessing, open_dataset
from deepnets.models import ImagePredictor
from deepnets.training import TrainConfig, save_model_files
from deepnets.training.run.starting_weights import with_weights_preprocessing

keras = tf.keras
PREPROCESS_INPUT = {
    "resnet50": keras.applications.resnet50.preprocess_input,
    "vgg16": keras.applications.vgg16.preprocess_input,
}
CLASSES = ("a", "b", "c")


def random_images(count, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A folder of random 16x16 PNGs (train/ and test/), opened as a fine-tuning run from a
    keras.applications weights file opens it."""
    root = tmp_path_factory.mktemp("folder")
    for split, seed in (("train", 0), ("test", 1)):
        for i, image in enumerate(random_images(6, seed)):
            folder = root / split / CLASSES[i % 3]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    cfg = TrainConfig(model="vgg16", dataset=str(root), init_weights="vgg16_weights_notop.h5")
    opened = with_weights_preprocessing(cfg, open_dataset(str(root)))
    assert opened.facts.preprocessing.normalization == "caffe"
    return opened


def assert_same_images_in_any_order(images, expected):
    """Each of `images` is one of `expected`, a different one each (training shuffles)."""
    differences = np.abs(images[:, None] - expected[None]).max(axis=(2, 3, 4))
    assert sorted(differences.argmin(axis=1)) == list(range(len(expected)))
    assert differences.min(axis=1).max() <= 1e-4


def pixels_of(source, split):
    return np.stack([image.numpy() for image, _ in source.examples(split)])


@pytest.mark.parametrize("name", sorted(PREPROCESS_INPUT))
def test_the_training_and_evaluation_pipelines_give_preprocess_input(source, name):
    preprocess_input = PREPROCESS_INPUT[name]
    inputs, _ = next(iter(source.train_dataset(6, seed=0, augment=False)))
    assert_same_images_in_any_order(inputs.numpy(), preprocess_input(pixels_of(source, "train")))
    inputs, _ = next(iter(source.eval_dataset(6)))
    expected = preprocess_input(pixels_of(source, "test"))
    np.testing.assert_allclose(inputs.numpy(), expected, rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    """A tiny classifier behind the caffe preprocessing, exported as deepnets-export does."""
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(0.01),  # probabilities away from 0 and 1, to compare
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASSES)),
        ]
    )
    preprocessing = Preprocessing.from_dict(source.facts.preprocessing.to_dict())  # run.json's
    predictor = ImagePredictor(classifier, preprocessing, CLASSES)
    folder = tmp_path_factory.mktemp("exported")
    save_model_files(predictor, str(folder / "model.keras"), str(folder / "saved_model"), predictor)
    return classifier, folder


def full_probabilities(predictions):
    rows = np.zeros((len(predictions), len(CLASSES)), np.float32)
    for row, prediction in zip(rows, predictions, strict=True):
        row[list(prediction.indices)] = prediction.probabilities
    return rows


@pytest.mark.parametrize("name", sorted(PREPROCESS_INPUT))
def test_the_exported_model_and_predict_give_the_model_of_preprocess_input(exported, name):
    classifier, folder = exported
    images = random_images(4, seed=2)
    reference = tf.nn.softmax(classifier(PREPROCESS_INPUT[name](images.copy()))).numpy()
    serving = tf.saved_model.load(str(folder / "saved_model"))
    served = serving.signatures["serve_images"](images=tf.constant(images))["probabilities"]
    np.testing.assert_allclose(served.numpy(), reference, rtol=0, atol=1e-5)
    reloaded = keras.models.load_model(folder / "model.keras")
    np.testing.assert_allclose(reloaded(images).numpy(), reference, rtol=0, atol=1e-5)
    for source in (folder / "model.keras", folder / "saved_model"):
        predicted = full_probabilities(deepnets.predict(source, images, top_k=len(CLASSES)))
        np.testing.assert_allclose(predicted, reference, rtol=0, atol=1e-5)
