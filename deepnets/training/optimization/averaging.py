"""Averages of a model's weights: a moving average for evaluation and export, and lookahead.

`WeightAverage` keeps, beside the trained model, running averages of all its float weights
(BatchNorm statistics included) and a second model of the same architecture that holds them
when it is evaluated, checkpointed or saved. The averages are updated after every optimizer
step, on every replica (they are sync-on-read variables, identical on all replicas since the
weights are), with the decay warmed up as TensorFlow's `ExponentialMovingAverage` does:
`min(decay, (1 + t) / (10 + t))` at step t, so that a short run does not average in its
random initialization.

`Lookahead` (airbench's) keeps slow weights that the trained weights are pulled back to every
few steps, more strongly as the run nears its end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

keras = tf.keras


def _float_weights(model: keras.Model) -> list[Any]:
    return [w for w in model.weights if tf.as_dtype(w.dtype).is_floating]


def _copies(weights: list[Any], name: str) -> list[tf.Variable]:
    """Non-trainable copies of `weights`, updated on each replica and read as their mean."""
    return [
        tf.Variable(
            w.value,
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.MEAN,
            name=name,
        )
        for w in weights
    ]


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
        self.averages = _copies(self.weights, "weight_average")
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


class Lookahead:
    """airbench's lookahead: slow weights that the trained weights are pulled back to.

    Every `every` steps (at steps t = every, 2 * every, ...; T = `total_steps`):

        d = decay ** every * (t / T) ** 3
        slow <- d * slow + (1 - d) * weights
        weights <- slow

    over every float weight (BatchNorm statistics included). `d` grows from 0 (no effect: the
    slow weights follow the trained ones) to `decay ** every` at the end, so the pull-back acts
    late in the run, when it averages out the noise of the last steps. The slow weights start as
    the model's weights, are checkpointed (`state`) and updated on every replica (sync-on-read,
    identical on all replicas since the weights are).

    Create it inside `strategy.scope()`.

    Args:
        model: the trained model.
        every: steps between updates (airbench: 5).
        decay: the per-step decay the schedule ends at (airbench: 0.95), in (0, 1).
        total_steps: T, the step the run ends at.
    """

    def __init__(self, model: keras.Model, every: int, decay: float, total_steps: int):
        if int(every) < 1:
            raise ValueError(f"`every` must be a positive number of steps, got {every!r}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"`decay` must be in (0, 1), got {decay!r}")
        if int(total_steps) < 1:
            raise ValueError(f"`total_steps` must be positive, got {total_steps!r}")
        self.every = int(every)
        self.decay = float(decay)
        self.total_steps = int(total_steps)
        self.weights = _float_weights(model)
        self.state = tf.Module(name="lookahead")
        self.state.slow = _copies(self.weights, "lookahead_slow")

    def decay_at(self, step: tf.Tensor) -> tf.Tensor:
        """`d` at step `step` (a float32 tensor)."""
        fraction = tf.cast(step, tf.float32) / float(self.total_steps)
        return (self.decay**self.every) * fraction**3

    def update(self, step: tf.Tensor) -> None:
        """After step `step` (in the replica context): the update above when `every` divides it."""

        def pull() -> tf.Tensor:
            d = self.decay_at(step)
            for slow, weight in zip(self.state.slow, self.weights, strict=True):
                value = d * slow + (1.0 - d) * tf.cast(weight.value, slow.dtype)
                slow.assign(value)
                weight.assign(tf.cast(value, weight.dtype))
            return tf.constant(True)

        due = tf.equal(tf.math.floormod(tf.cast(step, tf.int64), self.every), 0)
        tf.cond(due, pull, lambda: tf.constant(False))
