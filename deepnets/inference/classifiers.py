"""The models `deepnets.predict` classifies with, loaded from what training and export write.

`load_classifier(source)` takes a run folder (its newest readable checkpoint, or `checkpoint`),
a `.keras` file holding a `deepnets.models.ImagePredictor` (`deepnets-export`'s `model.keras`),
the folder `deepnets-export` writes (its `model.keras`) or a SavedModel it wrote (`saved_model/`,
also in a run folder). Whichever it is, images go through the run's recorded preprocessing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from deepnets.models import ImagePredictor
from deepnets.training import RunFolder, restore_model

SOURCES = (
    "a training run folder, a .keras file written by deepnets-export (model.keras), the folder "
    "deepnets-export writes, or its SavedModel folder (saved_model/)"
)
EXPORTED_KERAS = "model.keras"  # what deepnets-export writes beside saved_model/


class TrainedClassifier:
    """A trained classifier with its class names: uint8 images in, probabilities out.

    Attributes:
        class_names: one name per output class.
        description: where it came from (a checkpoint, a file or a folder).
    """

    class_names: tuple[str, ...]
    description: str

    def probabilities(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities [n, classes] of uint8 images [h, w, 3] of any sizes."""
        raise NotImplementedError


class PredictorClassifier(TrainedClassifier):
    """An `ImagePredictor`: each image preprocessed, then batches through the model."""

    def __init__(self, predictor: ImagePredictor, description: str) -> None:
        self.predictor = predictor
        self.class_names = predictor.class_names
        self.description = description
        self._probabilities = tf.function(predictor.probabilities, autograph=False)

    def probabilities(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        inputs = [self.predictor.preprocessing(tf.convert_to_tensor(image)) for image in images]
        batches = [
            self._probabilities(tf.stack(inputs[start : start + batch_size])).numpy()
            for start in range(0, len(inputs), batch_size)
        ]
        return _rows(batches, len(self.class_names))


class ServingClassifier(TrainedClassifier):
    """A SavedModel written by `deepnets.training.save_serving_model` (deepnets-export's), through
    its `serve_images` signature: the preprocessing is inside it."""

    def __init__(self, path: str) -> None:
        loaded = tf.saved_model.load(path)
        missing = {"serve_images", "class_names"} - set(loaded.signatures)
        if missing:
            raise ValueError(
                f"{path} is a SavedModel without the signatures {sorted(missing)}: give {SOURCES}."
            )
        self._loaded = loaded  # the signatures hold on to it
        self._serve = loaded.signatures["serve_images"]
        names = loaded.signatures["class_names"]()["class_names"].numpy()
        self.class_names = tuple(name.decode() for name in names)
        self.description = path

    def probabilities(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        rows = np.zeros((len(images), len(self.class_names)), np.float32)
        for start in range(0, len(images), batch_size):
            by_size: dict[tuple[int, ...], list[int]] = {}
            for i in range(start, min(start + batch_size, len(images))):
                by_size.setdefault(tuple(images[i].shape), []).append(i)
            for indices in by_size.values():  # the signature takes images of one size at a time
                batch = tf.stack([tf.convert_to_tensor(images[i]) for i in indices])
                rows[indices] = self._serve(images=batch)["probabilities"].numpy()
        return rows


def _rows(batches: list[np.ndarray], classes: int) -> np.ndarray:
    return np.concatenate(batches) if batches else np.zeros((0, classes), np.float32)


def load_predictor(source: str | os.PathLike, checkpoint: str | None = None) -> ImagePredictor:
    """The `ImagePredictor` (model, preprocessing, class names) of a run folder or an exported
    `.keras` file.

    Args:
        source: a training run folder, a `.keras` file written by deepnets-export, or the folder
            deepnets-export writes.
        checkpoint: a checkpoint of the run folder (".../ckpt-1200"); None: its newest readable.

    Returns:
        The predictor; from a run folder, scoring as the run evaluated (its `eval_flip` and
        `eval_translate`).

    Raises:
        FileNotFoundError: nothing at `source`, or a run folder without a checkpoint.
        ValueError: `source` is none of these, or a model without its preprocessing and class
            names (a run's `final.keras`).
    """
    return _open_predictor(os.fspath(source), checkpoint)[0]


def _open_predictor(path: str, checkpoint: str | None) -> tuple[ImagePredictor, str]:
    """`load_predictor`, and the checkpoint or file it read."""
    if os.path.isdir(path) and os.path.isfile(RunFolder(path).record):
        model, record, read = restore_model(path, checkpoint)
        predictor = ImagePredictor(
            model,
            record.preprocessing,
            record.class_names,
            flip=record.config.eval_flip,  # scored as the run evaluated
            translate=record.config.eval_translate,
        )
        return predictor, read
    if checkpoint is not None:
        raise ValueError(
            f"`checkpoint`={checkpoint!r} names a checkpoint of a run folder, and {path} is not "
            "one (it has no run.json): give the run folder, or no checkpoint."
        )
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, EXPORTED_KERAS)):
        path = os.path.join(path, EXPORTED_KERAS)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path}: give {SOURCES}.")
    if not path.endswith(".keras"):
        raise ValueError(f"{path} is not a model deepnets reads: give {SOURCES}.")
    import deepnets  # noqa: F401  (registers the layers for load_model)

    model = tf.keras.models.load_model(path)
    if not isinstance(model, ImagePredictor):
        raise ValueError(
            f"{path} holds a model without its preprocessing and class names; give its run "
            "folder or a model written by deepnets-export."
        )
    return model, path


def load_classifier(
    source: str | os.PathLike | ImagePredictor, checkpoint: str | None = None
) -> TrainedClassifier:
    """The classifier `source` holds, ready for `deepnets.predict` (load once, predict often).

    Args:
        source: a training run folder, a `.keras` file written by deepnets-export, the folder
            deepnets-export writes, a SavedModel it wrote, or an `ImagePredictor`.
        checkpoint: a checkpoint of the run folder; None: its newest readable one.

    Returns:
        An `TrainedClassifier` (its `class_names`, and `description`: where it came from).

    Raises:
        FileNotFoundError, ValueError: as `load_predictor`; ValueError for a SavedModel that
            deepnets did not write.
    """
    if isinstance(source, ImagePredictor):
        return PredictorClassifier(source, source.name)
    path = os.fspath(source)
    if checkpoint is None and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return ServingClassifier(path)
    return PredictorClassifier(*_open_predictor(path, checkpoint))
