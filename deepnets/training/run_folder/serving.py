"""The SavedModel of a trained classifier, carrying its preprocessing and class names.

`save_serving_model(predictor, path)` writes a SavedModel that TensorFlow alone can serve (no
deepnets, no Keras needed to load it) with these signatures:

- `serve_images` (also `serving_default`): uint8 images [n, h, w, 3] of one size;
- `serve_bytes`: encoded image files [n] (JPEG, PNG, BMP, GIF; any sizes);
- both return `probabilities` [n, classes], `class_index` [n] and `class_name` [n];
- `class_names`: no input, returns the names of all classes.

The images go through the run's recorded preprocessing inside the SavedModel, so a client sends
pixels or files as they are.
"""

from __future__ import annotations

import tensorflow as tf

from deepnets.data.images import decode_image
from deepnets.models.predictor import ImagePredictor


class _Serving(tf.Module):
    def __init__(self, predictor: ImagePredictor) -> None:
        super().__init__(name="deepnets_serving")
        self.predictor = predictor
        self.names = tf.constant(list(predictor.class_names))

    def _outputs(self, probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_index": index,
            "class_name": tf.gather(self.names, index),
        }

    # Traced without AutoGraph, as the training loop's functions (see `StepRunner`).
    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")],
        autograph=False,
    )
    def serve_images(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs(self.predictor(images))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")], autograph=False
    )
    def serve_bytes(self, image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        preprocessing = self.predictor.preprocessing
        inputs = tf.map_fn(
            lambda contents: preprocessing(decode_image(contents)),
            image_bytes,
            fn_output_signature=tf.TensorSpec(preprocessing.input_shape, tf.float32),
        )
        return self._outputs(self.predictor.probabilities(inputs))

    @tf.function(input_signature=[], autograph=False)
    def class_names(self) -> dict[str, tf.Tensor]:
        return {"class_names": self.names}


def save_serving_model(predictor: ImagePredictor, path: str) -> str:
    """Writes the SavedModel of `predictor` at `path` (a new folder); returns `path`."""
    module = _Serving(predictor)
    signatures = {
        "serving_default": module.serve_images,
        "serve_images": module.serve_images,
        "serve_bytes": module.serve_bytes,
        "class_names": module.class_names,
    }
    tf.saved_model.save(module, path, signatures=signatures)
    return path
