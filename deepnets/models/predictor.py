"""`ImagePredictor`: a trained classifier with its preprocessing and class names.

What an exported deepnets model is: it takes uint8 images as they come from a file (a batch of
same-size images, any size) and returns class probabilities, applying the run's recorded
`Preprocessing` (central crop or whole image, resize, normalization) first; `class_names` names
its outputs. Saved as `.keras`, it reloads after `import deepnets` with all three.

    predictor = ImagePredictor(model, record.preprocessing, record.class_names)
    probabilities = predictor(uint8_images)                  # [n, classes]
    predictor.preprocessing(image)                           # one image's model input
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from deepnets.data.preprocessing import Preprocessing
from deepnets.models.view_averaging import average_probabilities, check_test_time

keras = tf.keras


@keras.utils.register_keras_serializable(package="deepnets")
class ImagePredictor(keras.Model):
    """Images (uint8 [n, h, w, 3]) in, class probabilities out.

    Args:
        classifier: a built model from preprocessed images to logits (or to probabilities if
            it ends in a softmax: a deepnets model with `classifier_activation="softmax"`).
        preprocessing: a `deepnets.data.Preprocessing` or its `to_dict()`.
        class_names: one name per output class.
        flip: average the probabilities of each image and its mirror image (test-time flip
            averaging, as the run evaluated with `eval_flip`).
        translate: also average views shifted by this many pixels (as the run evaluated with
            `eval_translate`; see `deepnets.models.view_averaging`). 0: none.
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        classifier: keras.Model,
        preprocessing: Preprocessing | dict[str, Any],
        class_names: Sequence[str],
        flip: bool = False,
        translate: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(preprocessing, dict):
            preprocessing = Preprocessing.from_dict(preprocessing)
        classes = int(classifier.output_shape[-1])
        if len(class_names) != classes:
            raise ValueError(
                f"`class_names` has {len(class_names)} names but the classifier has {classes} "
                "outputs."
            )
        self.classifier = classifier
        self.preprocessing = preprocessing
        self.class_names = tuple(str(name) for name in class_names)
        self.flip, self.translate = check_test_time(flip, translate)
        self._ends_in_softmax = getattr(classifier, "classifier_activation", None) == "softmax"
        self.built = True  # the classifier is built; nothing else holds weights

    def build(self, input_shape: Any = None) -> None:
        self.built = True

    def probabilities(self, inputs: tf.Tensor) -> tf.Tensor:
        """Class probabilities of preprocessed model inputs [n, H, W, 3] (float32)."""
        return average_probabilities(self._probabilities, inputs, self.flip, self.translate)

    def _probabilities(self, inputs: tf.Tensor) -> tf.Tensor:
        outputs = tf.cast(self.classifier(inputs, training=False), tf.float32)
        return outputs if self._ends_in_softmax else tf.nn.softmax(outputs, axis=-1)

    def call(self, images: tf.Tensor) -> tf.Tensor:
        """Class probabilities of a batch of uint8 images of one size."""
        return self.probabilities(self.preprocessing(images))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "classifier": keras.utils.serialize_keras_object(self.classifier),
            "preprocessing": self.preprocessing.to_dict(),
            "class_names": list(self.class_names),
            "flip": self.flip,
            "translate": self.translate,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImagePredictor:
        config = dict(config)
        classifier = keras.utils.deserialize_keras_object(config.pop("classifier"))
        return cls(classifier, **config)
