"""Fine-tuning: starting weights, a frozen backbone, and a slower backbone.

- `initialize_weights(model, source)`: copy the weights of a keras.applications ImageNet `.h5`
  file, a deepnets run folder or a `.keras` file into a new model, every layer whose shapes
  agree (a classifier for another class count starts new).
- `BackboneSplit`: the model's head (the layer named "classifier") and the rest, its backbone,
  so that the runner can train the head alone with the backbone in inference mode, or give the
  backbone its own optimizer.
- `ScaledSchedule`: the learning rate of that backbone optimizer: the run's schedule, scaled and
  shifted by the frozen steps (the backbone optimizer only counts the steps it takes).
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

keras = tf.keras

HEAD_LAYER = "classifier"


class BackboneSplit:
    """The head and the backbone of a model.

    Args:
        model: a functional model with a layer named `head_layer` that takes the backbone's
            output and returns the model's output (every deepnets model with `include_top`).
        head_layer: the head's layer name.

    Raises:
        ValueError: the model has no such layer.
    """

    def __init__(self, model: keras.Model, head_layer: str = HEAD_LAYER) -> None:
        try:
            self.head = model.get_layer(head_layer)
        except ValueError as err:
            raise ValueError(
                f"{model.name} has no layer {head_layer!r} to train alone; freezing the backbone "
                "and a backbone learning rate need a deepnets model with include_top=True."
            ) from err
        self.features = keras.Model(model.inputs, self.head.input, name=f"{model.name}_backbone")
        head_ids = {id(v) for v in self.head.trainable_variables}
        self.is_head = [id(v) in head_ids for v in model.trainable_variables]
        self.head_variables = list(self.head.trainable_variables)
        self.backbone_variables = [
            v for v, head in zip(model.trainable_variables, self.is_head, strict=True) if not head
        ]


@keras.utils.register_keras_serializable(package="deepnets")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`scale * schedule(step + offset)`.

    Args:
        schedule: a learning-rate schedule (or a float).
        scale: the multiplier.
        offset: steps added to the optimizer's own count (the steps it did not take).
    """

    def __init__(self, schedule: Any, scale: float, offset: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.scale = float(scale)
        self.offset = int(offset)

    def __call__(self, step: Any) -> tf.Tensor:
        rate = self.schedule
        if callable(rate):
            rate = rate(tf.cast(step, tf.int64) + self.offset)
        return self.scale * tf.cast(rate, tf.float32)

    def get_config(self) -> dict[str, Any]:
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {"schedule": schedule, "scale": self.scale, "offset": self.offset}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        config = dict(config)
        if isinstance(config["schedule"], dict):
            config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)


def is_imagenet_weights_file(path: str) -> bool:
    """Whether `path` is a keras.applications weights file (an `.h5` file)."""
    return path.lower().endswith((".h5", ".hdf5"))


def source_model(path: str) -> keras.Model:
    """The model whose weights `path` holds: a run folder's newest readable checkpoint, or a
    `.keras` file (an exported `ImagePredictor` gives its classifier)."""
    from deepnets.models import ImagePredictor
    from deepnets.training.restore import restore_model

    if os.path.isdir(path):
        return restore_model(path)[0]
    model = keras.models.load_model(path)
    return model.classifier if isinstance(model, ImagePredictor) else model


def initialize_weights(model: keras.Model, path: str) -> dict[str, list[str]]:
    """Copies the weights `path` holds into `model` wherever the shapes agree.

    Args:
        model: the new model (built).
        path: a keras.applications ImageNet `.h5` file (see `load_imagenet_weights`), a deepnets
            run folder or a `.keras` file (the layers are matched by name).

    Returns:
        {"copied": layer names, "skipped": layer names left as initialized}.

    Raises:
        ValueError: nothing but the classifier matches (another architecture).
        FileNotFoundError: `path` does not exist (or a run folder without a checkpoint).
    """
    from deepnets.models import load_imagenet_weights

    if not os.path.exists(path):
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
