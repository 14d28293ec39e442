"""Fine-tuning's optimization parts: a frozen backbone, and a slower backbone.

- `BackboneSplit`: the model's head (the layer named "classifier") and the rest, its backbone,
  so that the runner can train the head alone with the backbone in inference mode, or give the
  backbone its own optimizer.
- `ScaledSchedule`: the learning rate of that backbone optimizer: the run's schedule, scaled and
  shifted by the frozen steps (the backbone optimizer only counts the steps it takes).
"""

from __future__ import annotations

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
