"""Gradient norms by depth: how strongly each part of a network is being trained.

`GradientNormRecorder` groups a model's trainable variables by the top-level layer that owns
them (the stem, each residual or VGG block, the classifier: the depth axis of the picture the
loop draws) and records the L2 norm of each group's gradient. The `GradientNorms` part calls it
on the last step of a loop only, so it costs one set of reductions per loop; without the part
the step holds none of it. Under a strategy each replica records the norm of its own gradient
and a read gives their mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from deepnets.training.loop.parts.base import PartSetup, StepPart

keras = tf.keras


def variable_groups(model: keras.Model) -> list[tuple[str, list[int]]]:
    """(layer name, indices into `model.trainable_variables`) of each top-level layer that has
    trainable variables, in the model's layer order (from the input to the output)."""
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    groups = []
    for layer in model.layers:
        indices = [position[id(v)] for v in layer.trainable_variables if id(v) in position]
        if indices:
            groups.append((layer.name, sorted(indices)))
    covered = {i for _, indices in groups for i in indices}
    rest = [i for i in range(len(position)) if i not in covered]
    if rest:  # variables owned by the model itself, not by a layer
        groups.append(("other", rest))
    return groups


class GradientNormRecorder:
    """Holds the latest gradient norm of every group of a model's variables.

    Create it inside `strategy.scope()`.

    Args:
        model: the trained model.
        loss_scale: a function giving the loss scale the gradients carry (mixed_float16) or
            None, or None; the recorded norms are those of the unscaled gradients.
    """

    def __init__(self, model: keras.Model, loss_scale: Any = None) -> None:
        self.groups = variable_groups(model)
        self.names = [name for name, _ in self.groups]
        self._loss_scale = loss_scale
        self.norms = tf.Variable(
            tf.zeros(len(self.groups)),
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.MEAN,
            name="gradient_norms",
        )

    def record(self, grads: list[Any]) -> None:
        """Stores the norms of `grads` (aligned with `model.trainable_variables`); call it in
        the replica context."""
        with tf.name_scope("gradient_norms"):
            norms = [
                tf.linalg.global_norm([tf.cast(grads[i], tf.float32) for i in indices])
                for _, indices in self.groups
            ]
            norms = tf.stack(norms)
            scale = self._loss_scale() if self._loss_scale is not None else None
            if scale is not None:
                norms /= tf.cast(scale, tf.float32)
            self.norms.assign(norms)

    def read(self) -> dict[str, float]:
        """{layer name: gradient norm} of the last recording (mean over replicas)."""
        values = np.asarray(tf.convert_to_tensor(self.norms))
        return {name: float(value) for name, value in zip(self.names, values, strict=True)}


class GradientNorms(StepPart):
    """Records the gradient norm of every top-level layer (stem, blocks, classifier) on the last
    step of each loop (not in a frozen phase); `StepRunner.train` then returns them under
    "gradient_norms"."""

    loop_reports = frozenset({"gradient_norms"})

    def build(self, setup: PartSetup) -> None:
        self.recorder = GradientNormRecorder(setup.model, setup.loss_scale)

    def observe_gradients(self, grads: list[Any], frozen: bool, last: tf.Tensor) -> None:
        if frozen:  # the head's gradients alone: not the picture by depth
            return

        def record() -> tf.Tensor:
            self.recorder.record(grads)
            return tf.constant(True)

        tf.cond(last, record, lambda: tf.constant(False))

    def loop_metrics(self, frozen: bool) -> dict[str, Any]:
        return {} if frozen else {"gradient_norms": self.recorder.read()}
