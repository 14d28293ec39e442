"""Saving a trained model: `final.keras` and a SavedModel, on the chief of any strategy."""

from __future__ import annotations

import shutil
import tempfile

import tensorflow as tf

from deepnets.models.predictor import ImagePredictor
from deepnets.training.run_folder.atomic import atomic_directory, atomic_path
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.serving import save_serving_model
from deepnets.training.runtime.strategy import is_chief

keras = tf.keras


def save_model_files(
    model: keras.Model,
    keras_path: str,
    saved_model_path: str | None,
    predictor: ImagePredictor | None = None,
) -> tuple[str, str | None]:
    """Writes the model as a `.keras` file and (when a path is given) a SavedModel, each
    atomically: a kill leaves the previous file or folder, or the new one, never half of one.

    Args:
        model: what goes into the `.keras` file.
        keras_path: the `.keras` file.
        saved_model_path: the SavedModel folder, or None for none.
        predictor: with one, the SavedModel serves images and files through its preprocessing
            and names its classes (`save_serving_model`); without, it serves `serve(inputs)`
            for float32 inputs of the model's input shape.

    Returns:
        (keras_path, saved_model_path).
    """
    with atomic_path(keras_path, suffix=".keras") as temporary:
        model.save(temporary)
    if saved_model_path is not None:
        with atomic_directory(saved_model_path) as partial:
            if predictor is not None:
                save_serving_model(predictor, partial)
            else:
                signature = [tf.TensorSpec(model.input_shape, tf.float32, name="inputs")]
                model.export(partial, input_signature=signature, verbose=False)
    return keras_path, saved_model_path


def save_final_model(
    model: keras.Model,
    model_dir: str,
    strategy: tf.distribute.Strategy,
    *,
    saved_model: bool = True,
    predictor: ImagePredictor | None = None,
) -> tuple[str | None, str | None]:
    """Saves `final.keras` (the model, logits) and `saved_model/` (served through `predictor`
    when given: see `save_model_files`) in `model_dir`.

    Every worker of a multi-worker run must call it (saving may run collectives); the others
    write to a temporary folder that is deleted afterwards.

    Returns:
        (keras_path, saved_model_path) on the chief; (None, None) on other workers.
    """
    chief = is_chief(strategy)
    folder = RunFolder(model_dir if chief else tempfile.mkdtemp(prefix="deepnets_final_"))
    saved_model_path = folder.saved_model if saved_model else None
    paths = save_model_files(model, folder.final_keras, saved_model_path, predictor)
    if not chief:
        shutil.rmtree(folder.path, ignore_errors=True)
        return None, None
    return paths
