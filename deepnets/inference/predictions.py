"""`predict`: the top-k classes of image files and arrays, one record per image."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from deepnets.checks import check_positive_int
from deepnets.inference.classifiers import TrainedClassifier, load_classifier
from deepnets.inference.inputs import image_inputs
from deepnets.inference.records import Prediction
from deepnets.models import ImagePredictor


def predict(
    source: str | os.PathLike | TrainedClassifier | ImagePredictor,
    images: Any,
    top_k: int = 5,
    *,
    checkpoint: str | None = None,
    batch_size: int = 64,
) -> list[Prediction]:
    """Classifies images with a trained model: the `top_k` class names and probabilities of each.

        predictions = deepnets.predict("runs/pets", ["a.jpg", "b.png"], top_k=3)
        predictions[0].classes, predictions[0].probabilities   # ("cat", ...), (0.91, ...)

    Images go through the run's recorded preprocessing, exactly as evaluation does. A path that
    does not exist or a file that is not a readable image gets a record with its `error`; the
    other images are still classified.

    Args:
        source: a training run folder (its newest readable checkpoint), a `.keras` file written
            by deepnets-export, the folder deepnets-export writes, its SavedModel folder, or a
            model loaded once with `deepnets.inference.load_classifier` (or an `ImagePredictor`).
        images: image file paths (JPEG, PNG, BMP, GIF) or folders of them (searched
            recursively), uint8 arrays [height, width, 3] of any size or batches
            [n, height, width, 3]; one of these or a list of them.
        top_k: how many classes per image (at most the class count).
        checkpoint: a checkpoint of the run folder (".../ckpt-1200") instead of the newest.
        batch_size: images per forward pass.

    Returns:
        One `Prediction` per image, in order (a folder gives one per image file in it).

    Raises:
        FileNotFoundError, ValueError: `source` cannot be loaded (the message says why and what
            it takes), an array of another dtype or shape, or `top_k`/`batch_size` not a
            positive integer.
    """
    check_positive_int("top_k", top_k)
    check_positive_int("batch_size", batch_size)
    if not isinstance(source, TrainedClassifier):
        source = load_classifier(source, checkpoint)
    inputs = image_inputs(images)
    readable = [item for item in inputs if item.error is None]
    rows = iter(source.probabilities([item.pixels for item in readable], batch_size))
    names = source.class_names
    k = min(top_k, len(names))
    predictions = []
    for item in inputs:
        if item.error is not None:
            predictions.append(Prediction(item.label, error=item.error))
            continue
        row = next(rows)
        top = np.argsort(-row, kind="stable")[:k]
        predictions.append(
            Prediction(
                item.label,
                classes=tuple(names[i] for i in top),
                probabilities=tuple(float(row[i]) for i in top),
                indices=tuple(int(i) for i in top),
            )
        )
    return predictions
