"""Saving a trained model: `final.keras` and a SavedModel, on the chief of any strategy; exporting
one with its preprocessing and class names in several formats (`export_model`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from deepnets.models.predictor import ImagePredictor
from deepnets.training.run_folder.atomic import atomic_directory, atomic_path
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.portable import (
    QUANTIZATIONS,
    require_export_packages,
    write_class_names,
    write_litert,
    write_onnx,
)
from deepnets.training.run_folder.serving import save_serving_model
from deepnets.training.runtime.strategy import is_chief

keras = tf.keras

EXPORT_FORMATS = ("keras", "saved_model", "litert", "onnx")


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
    _write_keras(model, keras_path)
    if saved_model_path is not None:
        _write_saved_model(model, saved_model_path, predictor)
    return keras_path, saved_model_path


def _write_keras(model: keras.Model, path: str) -> None:
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


def _write_saved_model(model: keras.Model, path: str, predictor: ImagePredictor | None) -> None:
    with atomic_directory(path) as partial:
        if predictor is not None:
            save_serving_model(predictor, partial)
        else:
            signature = [tf.TensorSpec(model.input_shape, tf.float32, name="inputs")]
            model.export(partial, input_signature=signature, verbose=False)


def export_model(
    predictor: ImagePredictor,
    output_dir: str,
    formats: Sequence[str] = ("keras", "saved_model"),
    *,
    quantize: str | Sequence[str] = "none",
    calibration_images: np.ndarray | None = None,
) -> dict[str, str]:
    """Writes `predictor` (uint8 images in, probabilities out, preprocessing and class names
    inside) in `output_dir`, in each of `formats`, each file atomically:

    - "keras": `model.keras`, the `ImagePredictor` (reloads after `import deepnets`);
    - "saved_model": `saved_model/`, served by TensorFlow alone (`save_serving_model`);
    - "litert": `model.tflite`, `model_dynamic.tflite`, `model_int8.tflite` (one per entry of
      `quantize`) and `class_names.json` beside them (`portable.write_litert`);
    - "onnx": `model.onnx`, class names in its metadata (`portable.write_onnx`).

    Args:
        predictor: the classifier with its preprocessing and class names.
        output_dir: the folder to write in (made if missing).
        formats: some of `EXPORT_FORMATS`.
        quantize: the LiteRT files' quantizations, some of `QUANTIZATIONS` (one LiteRT file
            each); only "none" without "litert" in `formats`.
        calibration_images: for "int8", uint8 training images of the export's input shape
            (`calibration_images_of_run`, `calibration_images_of_folder`).

    Returns:
        {what: path} of what was written: the formats, "litert_dynamic" and "litert_int8" for
        the quantized LiteRT files (the float one is "litert"), and "class_names" with them.

    Raises:
        ValueError: an unknown or repeated format or quantization, a quantization other than
            "none" without "litert", or "int8" without calibration images.
        ImportError: "onnx" without tf2onnx and onnx installed (names the extra to install);
            raised before anything is written.
    """
    formats = _distinct("formats", formats, EXPORT_FORMATS)
    quantizations = _distinct(
        "quantize", [quantize] if isinstance(quantize, str) else quantize, QUANTIZATIONS
    )
    if quantizations != ["none"] and "litert" not in formats:
        raise ValueError(f"quantize={quantize!r} applies to the litert format; add it to formats")
    if "onnx" in formats:
        require_export_packages("tf2onnx", "onnx")
    written: dict[str, str] = {}
    if "keras" in formats:
        written["keras"] = os.path.join(output_dir, "model.keras")
        _write_keras(predictor, written["keras"])
    if "saved_model" in formats:
        written["saved_model"] = os.path.join(output_dir, "saved_model")
        _write_saved_model(predictor, written["saved_model"], predictor)
    if "litert" in formats:
        for quantization in quantizations:
            key = "litert" if quantization == "none" else f"litert_{quantization}"
            path = os.path.join(output_dir, key.replace("litert", "model") + ".tflite")
            written[key] = write_litert(predictor, path, quantization, calibration_images)
        written["class_names"] = write_class_names(predictor, output_dir)
    if "onnx" in formats:
        written["onnx"] = write_onnx(predictor, os.path.join(output_dir, "model.onnx"))
    return written


def _distinct(name: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    values = list(values)
    if not values or len(set(values)) != len(values) or not set(values) <= set(allowed):
        raise ValueError(
            f"{name}: got {values}; give one or more of {', '.join(allowed)}, each once"
        )
    return values


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
