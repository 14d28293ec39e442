"""Starting weights: `initialize_weights(model, source)` copies the weights of a
keras.applications ImageNet `.h5` file (or "imagenet": keras.applications' own, downloaded once),
a deepnets run folder or a `.keras` file into a new model, every layer whose shapes agree (a
classifier for another class count starts new).
"""

from __future__ import annotations

import os

import tensorflow as tf

from deepnets.models import ImagePredictor, load_imagenet_weights
from deepnets.training.optimization.backbone import HEAD_LAYER
from deepnets.training.run_folder.restore import restore_model

keras = tf.keras


IMAGENET = "imagenet"  # keras.applications' ImageNet weights, downloaded; "./imagenet" is a path


def is_imagenet_weights_file(path: str) -> bool:
    """Whether `path` is keras.applications' ImageNet weights: an `.h5` file, or "imagenet"."""
    return path == IMAGENET or path.lower().endswith((".h5", ".hdf5"))


def source_model(path: str) -> keras.Model:
    """The model whose weights `path` holds: a run folder's newest readable checkpoint, or a
    `.keras` file (an exported `ImagePredictor` gives its classifier)."""
    if os.path.isdir(path):
        return restore_model(path)[0]
    model = keras.models.load_model(path)
    return model.classifier if isinstance(model, ImagePredictor) else model


def initialize_weights(model: keras.Model, path: str) -> dict[str, list[str]]:
    """Copies the weights `path` holds into `model` wherever the shapes agree.

    Args:
        model: the new model (built).
        path: a keras.applications ImageNet `.h5` file (see `load_imagenet_weights`) or
            "imagenet" (that file downloaded once into Keras' cache), a deepnets run folder or a
            `.keras` file (the layers are matched by name).

    Returns:
        {"copied": layer names, "skipped": layer names left as initialized}.

    Raises:
        ValueError: nothing but the classifier matches (another architecture).
        FileNotFoundError: `path` does not exist (or a run folder without a checkpoint).
        WeightsDownloadError: "imagenet", and no network (an OSError naming the file).
    """
    if path != IMAGENET and not os.path.exists(path):
        raise FileNotFoundError(f"No weights at {path!r}.")
    if is_imagenet_weights_file(path):
        return load_imagenet_weights(model, path)
    source = source_model(path)
    layers = {layer.name: layer for layer in source.layers if layer.weights}
    report: dict[str, list[str]] = {"copied": [], "skipped": []}
    for layer in model.layers:
        if not layer.weights:
            continue
        match = layers.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if match is None or [tuple(w.shape) for w in match.get_weights()] != shapes:
            report["skipped"].append(layer.name)
            continue
        layer.set_weights(match.get_weights())
        report["copied"].append(layer.name)
    if not [name for name in report["copied"] if name != HEAD_LAYER]:
        raise ValueError(
            f"no layer of {path} fits {model.name} (skipped: {report['skipped'][:5]}): the "
            "weights belong to another architecture; use the same model and model_overrides."
        )
    return report
