"""Saving a trained model: `final.keras` and a SavedModel, on the chief of any strategy."""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf

from deepnets.training.atomic import atomic_directory, atomic_path
from deepnets.training.strategy import is_chief

keras = tf.keras

FINAL_KERAS = "final.keras"
SAVED_MODEL_DIR = "saved_model"


def with_softmax(model: keras.Model) -> keras.Model:
    """The same network and weights, ending in a softmax (a new model; `model` is unchanged).

    A deepnets model is rebuilt from its config with `classifier_activation="softmax"`, so it
    keeps its class; any other model is wrapped with a `Softmax` layer.
    """
    config = model.get_config()
    if "classifier_activation" in config:
        probabilities = type(model).from_config({**config, "classifier_activation": "softmax"})
        if not probabilities.built:
            probabilities.build(model.input_shape)
        probabilities.set_weights(model.get_weights())
        return probabilities
    inputs = keras.Input(model.input_shape[1:])
    return keras.Model(inputs, keras.layers.Softmax()(model(inputs)), name=f"{model.name}_softmax")


def save_model_files(
    model: keras.Model, keras_path: str, saved_model_path: str | None
) -> tuple[str, str | None]:
    """Writes the model as a `.keras` file and (when a path is given) a SavedModel, each
    atomically: a kill leaves the previous file or folder, or the new one, never half of one.

    The SavedModel serves `serve(images)` for float32 images of the model's input shape.

    Returns:
        (keras_path, saved_model_path).
    """
    with atomic_path(keras_path, suffix=".keras") as temporary:
        model.save(temporary)
    if saved_model_path is not None:
        signature = [tf.TensorSpec(model.input_shape, tf.float32, name="images")]
        with atomic_directory(saved_model_path) as partial:
            model.export(partial, input_signature=signature, verbose=False)
    return keras_path, saved_model_path


def save_final_model(
    model: keras.Model,
    model_dir: str,
    strategy: tf.distribute.Strategy,
    *,
    saved_model: bool = True,
) -> tuple[str | None, str | None]:
    """Saves `final.keras` (and `saved_model/`) in `model_dir`.

    Every worker of a multi-worker run must call it (saving may run collectives); the others
    write to a temporary folder that is deleted afterwards.

    Returns:
        (keras_path, saved_model_path) on the chief; (None, None) on other workers.
    """
    chief = is_chief(strategy)
    folder = model_dir if chief else tempfile.mkdtemp(prefix="deepnets_final_")
    saved_model_path = os.path.join(folder, SAVED_MODEL_DIR) if saved_model else None
    paths = save_model_files(model, os.path.join(folder, FINAL_KERAS), saved_model_path)
    if not chief:
        shutil.rmtree(folder, ignore_errors=True)
        return None, None
    return paths
