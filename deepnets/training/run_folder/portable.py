"""A trained classifier as a LiteRT (`.tflite`) or ONNX file: uint8 images in, probabilities out.

Both go through Keras 3's own exporters (`model.export(path, format="litert" | "onnx")`), the
route that supports Keras 3 models: LiteRT through TensorFlow's converter from a SavedModel, ONNX
through tf2onnx from the model's concrete function. What is converted is the whole
`ImagePredictor`, so the run's preprocessing (and its test-time views) are inside the file, as in
the SavedModel:

- input `images`: uint8 [n, h, w, 3], n free, (h, w) = `portable_input_shape(preprocessing)`,
  the size at which the preprocessing needs no resize (LiteRT's builtin ops and ONNX lack the
  antialiased resize TensorFlow uses): the model's own input size, or for a central-crop model
  the size whose central crop is that (256 for a 224 model);
- one output: probabilities float32 [n, classes].

A mixed-precision model is converted in float32 (`float32_predictor`): LiteRT's builtin kernels
and Keras's ONNX export take float32 models. The ops tf2onnx lacks (exact GELU's `Erfc`) are
converted by `onnx_ops`.

LiteRT files use builtin ops only (no Flex delegate needed), so the small `ai-edge-litert`
interpreter runs them. ONNX needs `tf2onnx` and `onnx` (`pip install "deepnets[export]"`).
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from deepnets.checks import check_choice
from deepnets.data.preprocessing import Preprocessing
from deepnets.models.predictor import ImagePredictor
from deepnets.training.run_folder.atomic import atomic_path, atomic_write_text
from deepnets.training.run_folder.onnx_ops import register_onnx_ops
from deepnets.version import __version__

keras = tf.keras

QUANTIZATIONS = ("none", "dynamic", "int8")
EXPORT_EXTRA = 'pip install "deepnets[export]"'
# The representative images TensorFlow's converter calibrates int8 activations on: a few
# hundred are the usual count (more change the ranges little and cost conversion time).
DEFAULT_CALIBRATION_COUNT = 300


def require_export_packages(*modules: str) -> None:
    """Imports `modules`; one missing raises an ImportError naming the extra that installs it.

    Raises:
        ImportError: "<module> is not installed: pip install "deepnets[export]"".
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            missing = err.name or module  # tf2onnx without onnx names onnx
            raise ImportError(f"{missing} is not installed: {EXPORT_EXTRA}") from err


def portable_input_shape(preprocessing: Preprocessing) -> tuple[int, int, int]:
    """(h, w, 3) of the images a LiteRT or ONNX export takes: the size the preprocessing turns
    into the model's input without resizing.

    Raises:
        ValueError: a central crop to a non-square `image_size` (it always resizes).
    """
    height, width = preprocessing.image_size
    if preprocessing.crop == "none":
        return height, width, 3
    if height != width:
        raise ValueError(
            f"preprocessing.image_size={preprocessing.image_size} with crop='central': the "
            "square crop is always resized to it, which LiteRT and ONNX cannot do; export a "
            "model with a square image_size or crop='none'"
        )
    side = int(np.ceil(height / preprocessing.central_fraction))
    # The smallest side whose central crop (int(fraction * side), as `Preprocessing.view`)
    # is exactly `height`; float rounding can put ceil one off either way.
    for candidate in (side - 1, side, side + 1):
        if int(preprocessing.central_fraction * candidate) == height:
            return candidate, candidate, 3
    raise ValueError(
        f"no image size has a central crop of exactly {height} pixels with "
        f"central_fraction={preprocessing.central_fraction}; export needs one"
    )


def float32_predictor(predictor: ImagePredictor) -> ImagePredictor:
    """`predictor` computing in float32: itself when it does, else a copy whose classifier is
    rebuilt with float32 layers and the same weights (a mixed-precision run's model computes
    in bfloat16 or float16, which LiteRT's builtin kernels and Keras's ONNX export lack)."""
    classifier = predictor.classifier
    if all(layer.dtype_policy.name == "float32" for layer in classifier._flatten_layers()):
        return predictor
    config = _float32_config(keras.utils.serialize_keras_object(classifier))
    copy = keras.utils.deserialize_keras_object(config)
    copy.set_weights(classifier.get_weights())  # mixed-precision variables are float32
    return ImagePredictor(
        copy,
        predictor.preprocessing,
        predictor.class_names,
        flip=predictor.flip,
        translate=predictor.translate,
    )


def _float32_config(value: Any) -> Any:
    """A serialized Keras object with every dtype policy made float32."""
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return {**value, "config": {**value.get("config", {}), "name": "float32"}}
    return {key: _float32_config(item) for key, item in value.items()}


def _input_signature(predictor: ImagePredictor) -> list[tf.TensorSpec]:
    shape = portable_input_shape(predictor.preprocessing)
    return [tf.TensorSpec([None, *shape], tf.uint8, name="images")]


def write_litert(
    predictor: ImagePredictor,
    path: str,
    quantize: str = "none",
    calibration_images: np.ndarray | None = None,
) -> str:
    """Writes `predictor` as a LiteRT flatbuffer (`.tflite`), atomically.

    Args:
        predictor: the classifier with its preprocessing and class names (converted in
            float32: `float32_predictor`).
        path: the `.tflite` file.
        quantize: "none" (float32), "dynamic" (int8 weights, float activations) or "int8"
            (int8 weights and activations where TensorFlow's converter can, calibrated on
            `calibration_images`; float where it cannot).
        calibration_images: uint8 [n, h, w, 3] training images of `portable_input_shape`, for
            "int8" (a few hundred: `DEFAULT_CALIBRATION_COUNT`).

    Returns:
        `path`.

    Raises:
        ValueError: `quantize` is none of `QUANTIZATIONS`, or "int8" without calibration images
            of the input shape.
    """
    check_choice("quantize", quantize, QUANTIZATIONS)
    predictor = float32_predictor(predictor)
    signature = _input_signature(predictor)
    options: dict[str, Any] = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        images = _check_calibration_images(calibration_images, signature[0].shape[1:])
        options["representative_dataset"] = lambda: _one_by_one(images)
    with atomic_path(path, suffix=".tflite") as temporary:
        predictor.export(
            temporary, format="litert", input_signature=signature, verbose=False, **options
        )
    return path


def _check_calibration_images(images: np.ndarray | None, shape: tf.TensorShape) -> np.ndarray:
    if images is None or len(images) == 0:
        raise ValueError(
            "calibration_images: quantize='int8' needs training images to calibrate on; got none"
        )
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != tuple(shape):
        raise ValueError(
            f"calibration_images: got {images.dtype} {images.shape}; expected uint8 "
            f"[n, {', '.join(str(d) for d in shape)}] (the export's input shape)"
        )
    return images


def _one_by_one(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for image in images:
        yield [image[np.newaxis]]


def write_onnx(predictor: ImagePredictor, path: str) -> str:
    """Writes `predictor` as an ONNX model, atomically, with its class names and preprocessing
    in the model's metadata (`metadata_props`: "class_names" and "preprocessing", JSON).

    Args:
        predictor: the classifier with its preprocessing and class names (converted in
            float32: `float32_predictor`).
        path: the `.onnx` file.

    Returns:
        `path`.

    Raises:
        ImportError: tf2onnx or onnx is missing (the message names the extra).
        ValueError: the converted graph holds an op ONNX does not define.
    """
    require_export_packages("tf2onnx", "onnx")
    import onnx

    predictor = float32_predictor(predictor)
    register_onnx_ops()
    with atomic_path(path, suffix=".onnx") as temporary:
        with warnings.catch_warnings():
            # Keras's numpy 2 patch of tf2onnx touches the deprecated `np.object`.
            warnings.simplefilter("ignore", FutureWarning)
            predictor.export(
                temporary, format="onnx", input_signature=_input_signature(predictor), verbose=False
            )
        model = onnx.load(temporary)
        # tf2onnx writes a graph with an op it cannot convert (and logs it) rather than fail.
        unknown = sorted(
            {node.op_type for node in model.graph.node if not onnx.defs.has(node.op_type)}
        )
        if unknown:
            raise ValueError(f"the model has operations ONNX does not define: {unknown}")
        onnx.helper.set_model_props(model, onnx_metadata(predictor))
        model.producer_name, model.producer_version = "deepnets", __version__
        onnx.save(model, temporary)
    return path


def onnx_metadata(predictor: ImagePredictor) -> dict[str, str]:
    """The `metadata_props` of an ONNX export: class names and preprocessing, as JSON."""
    return {
        "class_names": json.dumps(list(predictor.class_names)),
        "preprocessing": json.dumps(predictor.preprocessing.to_dict()),
    }


def write_class_names(predictor: ImagePredictor, folder: str) -> str:
    """Writes `class_names.json` (a JSON list, output index order) in `folder`; returns its path
    (LiteRT files carry no metadata a plain interpreter reads, so it goes beside them)."""
    path = os.path.join(folder, "class_names.json")
    return atomic_write_text(path, json.dumps(list(predictor.class_names), indent=1) + "\n")
