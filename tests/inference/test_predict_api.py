"""deepnets.predict: image files and arrays in, one record per image out, from a run folder,
an exported .keras file, the export folder or the SavedModel, all giving the same answer."""

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.checks import ArgumentError
from deepnets.inference import Prediction, load_classifier, load_predictor
from deepnets.training import TrainConfig, save_model_files, train

COLORS = ("blue", "green", "red")


def pixels(seed, size=(16, 16)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 120, (*size, 3))
    image[..., seed % 3] += 130  # the class: the strongest channel
    return image.astype(np.uint8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 2-step run of a width-4 ResNet on 3 classes of 16x16 PNGs, its SavedModel included."""
    root = tmp_path_factory.mktemp("photos")
    for c, name in enumerate(COLORS):
        (root / name).mkdir()
        for i in range(6):
            image = pixels(3 * i + (2 - c))  # channel 2 - c: blue, green, red
            (root / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    run_dir = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=str(root),
        epochs=None,
        train_steps=2,
        steps_per_loop=2,
        global_batch_size=8,
        model_dir=str(run_dir),
    )
    train(cfg)
    return run_dir


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two good files (one of another size), a text file named .jpg and a missing path."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "a.png").write_bytes(tf.io.encode_png(pixels(0)).numpy())
    (folder / "b.jpg").write_bytes(tf.io.encode_jpeg(pixels(1, (20, 24)), quality=95).numpy())
    (folder / "notes.jpg").write_text("not a picture")
    return [str(folder / n) for n in ("a.png", "notes.jpg", "missing.png", "b.jpg")]


def test_files_and_arrays_give_one_record_each_and_bad_files_say_why(run_dir, images):
    arrays = np.stack([pixels(2), pixels(3)])
    predictions = deepnets.predict(str(run_dir), [*images, arrays, pixels(4)], top_k=2)
    assert [p.image for p in predictions] == [
        *images,
        "images[4][0]",
        "images[4][1]",
        "images[5]",
    ]
    assert predictions[1].error.startswith("Unknown image file format")
    assert predictions[2].error == "no such file or folder"
    assert predictions[1].classes == () and predictions[1].top_class is None
    for p in [predictions[0], *predictions[3:]]:
        assert p.error is None and len(p.classes) == 2 and set(p.classes) <= set(COLORS)
        assert p.probabilities[0] >= p.probabilities[1] and sum(p.probabilities) <= 1 + 1e-6
        assert [COLORS[i] for i in p.indices] == list(p.classes)
    assert predictions[0].as_dict()["predictions"][0]["class"] == predictions[0].top_class
    everything = deepnets.predict(str(run_dir), images[0], top_k=10)  # at most the class count
    assert len(everything) == 1 and sorted(everything[0].classes) == sorted(COLORS)
    assert sum(everything[0].probabilities) == pytest.approx(1.0, abs=1e-5)


def test_run_folder_keras_file_export_folder_and_saved_model_agree(run_dir, tmp_path):
    predictor = load_predictor(run_dir)
    save_model_files(predictor, str(tmp_path / "model.keras"), None)  # as deepnets-export does
    batch = np.stack([pixels(seed) for seed in range(5)])
    sources = [run_dir, tmp_path / "model.keras", tmp_path, run_dir / "saved_model", predictor]
    results = [deepnets.predict(source, batch, top_k=3) for source in sources]
    reference = results[0]
    for result in results[1:]:
        assert [p.classes for p in result] == [p.classes for p in reference]
        np.testing.assert_allclose(
            [p.probabilities for p in result], [p.probabilities for p in reference], atol=1e-5
        )
    classifier = load_classifier(run_dir / "saved_model")  # loaded once, used again
    assert classifier.class_names == COLORS
    assert deepnets.predict(classifier, list(batch), top_k=3) == results[3]


def test_what_cannot_be_classified_is_refused_with_what_to_give(run_dir, tmp_path):
    with pytest.raises(ValueError, match="without its preprocessing and class names"):
        deepnets.predict(run_dir / "final.keras", [pixels(0)])
    with pytest.raises(FileNotFoundError, match="No model at"):
        deepnets.predict(tmp_path / "nothing.keras", [pixels(0)])
    with pytest.raises(ValueError, match="names a checkpoint of a run folder"):
        deepnets.predict(run_dir / "saved_model", [pixels(0)], checkpoint="ckpt-2")
    with pytest.raises(ValueError, match=r"`images\[0\]` is an array of dtype float32"):
        deepnets.predict(run_dir, [pixels(0).astype(np.float32)])
    with pytest.raises(ArgumentError, match="top_k"):
        deepnets.predict(run_dir, [pixels(0)], top_k=0)


def test_a_prediction_is_a_frozen_record():
    prediction = Prediction("a.png", ("cat",), (0.9,), (3,))
    with pytest.raises(AttributeError):
        prediction.error = "changed"  # type: ignore[misc]
    assert prediction.as_dict() == {
        "image": "a.png",
        "predictions": [{"class": "cat", "index": 3, "probability": 0.9}],
        "error": None,
    }


def test_deepnets_predict_is_the_inference_packages():
    assert deepnets.predict is deepnets.inference.predict
