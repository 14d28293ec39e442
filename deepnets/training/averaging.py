"""An exponential moving average of a model's weights, for evaluation and export.

`WeightAverage` keeps, beside the trained model, running averages of all its float weights
(BatchNorm statistics included) and a second model of the same architecture that holds them
when it is evaluated, checkpointed or saved. The averages are updated after every optimizer
step, on every replica (they are sync-on-read variables, identical on all replicas since the
weights are), with the decay warmed up as TensorFlow's `ExponentialMovingAverage` does:
`min(decay, (1 + t) / (10 + t))` at step t, so that a short run does not average in its
random initialization.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

keras = tf.keras


def _float_weights(model: keras.Model) -> list[Any]:
    return [w for w in model.weights if tf.as_dtype(w.dtype).is_floating]


class WeightAverage:
    """Running averages of a model's weights, and a model that holds them.

    Create it inside `strategy.scope()` (and the dtype policy the model was made under).

    Args:
        model: the trained model.
        model_fn: makes a model of the same architecture (the averaged model).
        decay: the average's decay per step, in (0, 1), e.g. 0.999.
    """

    def __init__(self, model: keras.Model, model_fn: Callable[[], keras.Model], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"`decay` must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.weights = _float_weights(model)
        self.averages = [
            tf.Variable(
                w.value,
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.MEAN,
                name="weight_average",
            )
            for w in self.weights
        ]
        self.model = model_fn()
        self._targets = _float_weights(self.model)
        if [tuple(w.shape) for w in self._targets] != [tuple(w.shape) for w in self.weights]:
            raise ValueError("model_fn made a model of another architecture than the trained one")

    def update(self, step: tf.Tensor) -> None:
        """Moves the averages toward the weights after step `step` (in the replica context)."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for average, weight in zip(self.averages, self.weights, strict=True):
            value = tf.cast(weight.value, average.dtype)
            average.assign(decay * average + (1.0 - decay) * value)

    def to_model(self) -> keras.Model:
        """Copies the averages into the averaged model; returns it (for evaluation, saving)."""
        for target, average in zip(self._targets, self.averages, strict=True):
            target.assign(tf.convert_to_tensor(average))
        return self.model

    def from_model(self) -> None:
        """Takes the averages back from the averaged model (after a checkpoint restored it)."""
        for target, average in zip(self._targets, self.averages, strict=True):
            average.assign(tf.convert_to_tensor(target.value))
