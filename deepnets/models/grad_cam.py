"""Grad-CAM: where in an image a deepnets model found the evidence for a class.

Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization": the gradient of a class's score (the logit, before the softmax) with respect to
a stage's feature map, averaged over the map's positions, weighs the map's channels; the ReLU
of the weighted sum is the heat map, at the stage's resolution, then resized to the input.

    result = grad_cam(model, inputs)              # the last stage, the top-1 class
    result = grad_cam(model, inputs, stage="C4")  # an earlier, finer stage
    result.heat                                   # [n, H, W], each image's map scaled to 0..1

Any `ImageClassifier` with its classifier (`include_top=True`) works: the stages are those of
`feature_info` (the maps `stage_outputs` returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from deepnets.checks import ArgumentError, check_choice
from deepnets.layers.common import channel_axis
from deepnets.models.base import ImageClassifier

keras = tf.keras


@dataclass(frozen=True)
class GradCam:
    """Heat maps of a batch of images, and what they explain.

    Attributes:
        heat: float32 [n, H, W] at the model's input size; each image's map divided by its
            maximum (0..1; all zeros where no position raised the class score).
        probabilities: float32 [n, num_classes], the softmax of the logits.
        class_indices: int [n], the class each map is for.
        stage: the name of the feature stage differentiated.
    """

    heat: np.ndarray
    probabilities: np.ndarray
    class_indices: np.ndarray
    stage: str


def stage_names(model: Any) -> list[str]:
    """The stages of `model` that Grad-CAM can use, from the input on (the last by default).

    Args:
        model: a deepnets `ImageClassifier`.

    Returns:
        The stage names of `model.feature_info`, e.g. ["C2", "C3", "C4", "C5"].

    Raises:
        ArgumentError: `model` is not a deepnets model.
    """
    if not isinstance(model, ImageClassifier):
        raise ArgumentError(
            "model",
            type(model).__name__,
            "a deepnets model (an ImageClassifier, e.g. from deepnets.build_model or a run "
            "folder; an ImagePredictor's .classifier), whose feature stages Grad-CAM reads",
        )
    return [info["name"] for info in model.feature_info]


def _explainer(model: ImageClassifier, stage: str) -> tuple[keras.Model, Any]:
    # One pass gives the stage's map and the classifier's input computed from that very map,
    # so the tape can differentiate the second with respect to the first.
    layer = next(info["layer"] for info in model.feature_info if info["name"] == stage)
    try:
        head = model.get_layer("classifier")
    except ValueError:
        head = None
    if head is None or not hasattr(head, "logits"):
        raise ArgumentError(
            "model",
            model.name,
            "a model with its classifier (built with include_top=True)",
            reason=f"{model.name} has no classifier head to explain; build it with "
            "include_top=True",
        )
    return keras.Model(model.inputs[0], [model.get_layer(layer).output, head.input]), head


def grad_cam(
    model: Any,
    inputs: Any,
    stage: str | None = None,
    class_indices: Sequence[int] | None = None,
) -> GradCam:
    """Grad-CAM heat maps of a batch of preprocessed images.

    Args:
        model: a deepnets `ImageClassifier` with its classifier.
        inputs: model inputs [n, H, W, 3] (or [n, 3, H, W] for channels_first), preprocessed
            as the model was trained.
        stage: the feature stage to differentiate (see `stage_names`); None: the last, whose
            maps are the coarsest and the most about the class.
        class_indices: the class to explain for each image; None: its top-1 class.

    Returns:
        A `GradCam`.

    Raises:
        ArgumentError: `model` is not a deepnets model with a classifier, `stage` is not one
            of its stages, or `class_indices` does not give one class in range per image.
    """
    names = stage_names(model)
    stage = names[-1] if stage is None else check_choice("stage", stage, names)
    explainer, head = _explainer(model, stage)
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    if inputs.shape.rank != 4 or not inputs.shape[0]:
        raise ArgumentError("inputs", tuple(inputs.shape), "a batch of one or more images")
    with tf.GradientTape() as tape:
        features, head_inputs = explainer(inputs, training=False)
        logits = tf.cast(head.logits(head_inputs, training=False), tf.float32)
        classes = _classes(class_indices, logits)
        scores = tf.gather(logits, classes, axis=1, batch_dims=1)
    gradients = tape.gradient(scores, features)
    axis = channel_axis(model.data_format)
    spatial = (2, 3) if axis == 1 else (1, 2)
    features, gradients = tf.cast(features, tf.float32), tf.cast(gradients, tf.float32)
    weights = tf.reduce_mean(gradients, axis=spatial, keepdims=True)
    heat = tf.nn.relu(tf.reduce_sum(weights * features, axis=axis))
    size = inputs.shape[2:4] if axis == 1 else inputs.shape[1:3]
    heat = tf.image.resize(heat[..., None], size, method="bilinear")[..., 0]
    peak = tf.reduce_max(heat, axis=(1, 2), keepdims=True)
    heat = tf.math.divide_no_nan(heat, peak)
    return GradCam(
        heat=heat.numpy(),
        probabilities=tf.nn.softmax(logits).numpy(),
        class_indices=classes.numpy(),
        stage=stage,
    )


def _classes(class_indices: Sequence[int] | None, logits: tf.Tensor) -> tf.Tensor:
    if class_indices is None:
        return tf.argmax(logits, axis=1, output_type=tf.int32)
    count, num_classes = logits.shape
    indices = [int(i) for i in class_indices]
    if len(indices) != count or not all(0 <= i < num_classes for i in indices):
        raise ArgumentError(
            "class_indices",
            class_indices,
            f"one class index in [0, {num_classes}) per image ({count} images)",
        )
    return tf.constant(indices, tf.int32)
