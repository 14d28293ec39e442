"""One training step on one replica: forward, loss, gradients, the parts, update, metrics.

The `StepRunner` calls a `TrainStep` inside `strategy.run`, many times per compiled loop. The
loss is the data loss averaged over the global batch (`tf.nn.compute_average_loss`, plus the
layers' own losses). Everything else a step may do is a part's (`deepnets.training.loop.parts`):
the step asks its parts, in order, for the forward pass (a frozen backbone), then lets them
transform the gradients (weight decay, BatchNorm rate multipliers), look at them (gradient
norms), apply some with optimizers of their own (a backbone optimizer), and change the weights
after the update (lookahead, EMA).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.loop.parts.base import Forward, StepPart
from deepnets.training.optimization.optimizers import classification_loss

keras = tf.keras


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """The numbers of a `StepRunner`'s steps.

    Attributes:
        steps_per_epoch: optimizer steps per epoch.
        global_batch_size: examples per step over all replicas (the loss averages over it).
        num_classes: number of classes (top-5 becomes top-k for fewer classes).
        total_steps: the step the run ends at; its loops then continue one training iterator
            across epochs (see `EpochInput`). None: one iterator per epoch.
        label_smoothing: of the cross-entropy.
        mixed_precision: a Keras dtype policy name for the model, or None for float32.
        jit_compile: compile the forward/backward pass with XLA.
        eval_flip: evaluate with test-time flip averaging (see `Evaluator`).
        eval_translate: evaluate with views shifted by this many pixels too (see `Evaluator`).
    """

    steps_per_epoch: int
    global_batch_size: int
    num_classes: int
    total_steps: int | None = None
    label_smoothing: float = 0.0
    mixed_precision: str | None = None
    jit_compile: bool = False
    eval_flip: bool = False
    eval_translate: int = 0


class TrainStep:
    """What one step does (see the module docstring).

    Args:
        model: the trained model (logits).
        optimizer: updates the variables no part updates itself.
        metrics: the train metrics, updated every step (top-k on the last of a loop).
        parts: the training options, applied in this order.
        settings: the step's global batch size, label smoothing and `jit_compile`.
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        metrics: ClassificationMetrics,
        parts: Sequence[StepPart],
        settings: StepSettings,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.metrics = metrics
        self.parts = list(parts)
        self.global_batch_size = int(settings.global_batch_size)
        self.label_smoothing = float(settings.label_smoothing)
        self.loss_scaling = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        # The optimizer update stays outside XLA: its cross-replica all-reduce (a merge_call)
        # cannot run inside a compiled function.
        self._gradients = (
            tf.function(self.gradients, jit_compile=True, autograph=False)
            if settings.jit_compile
            else self.gradients
        )

    def trained(self, frozen: bool) -> tuple[Forward, list[Any]]:
        """The forward pass and the variables differentiated: a part's, or the whole model's."""
        for part in self.parts:
            trained = part.trained(frozen)
            if trained is not None:
                return trained
        if frozen:
            raise ValueError("a frozen step needs a part with a frozen phase (FrozenBackbone)")
        return (lambda images: self.model(images, training=True)), self.model.trainable_variables

    def gradients(
        self, images: tf.Tensor, labels: tf.Tensor, frozen: bool = False
    ) -> tuple[Any, ...]:
        forward, variables = self.trained(frozen)
        with tf.GradientTape() as tape:
            logits = tf.cast(forward(images), tf.float32)
            per_example = classification_loss(labels, logits, self.label_smoothing)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            regularization = [tf.cast(x, tf.float32) for x in self.model.losses]
            if regularization:
                loss += tf.nn.scale_regularization_loss(tf.add_n(regularization))
            if self.loss_scaling:
                loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, variables)
        for part in self.parts:
            grads = part.transform_gradients(grads, variables)
        return grads, per_example, logits

    def __call__(self, batch: Any, frozen: bool, last: Any) -> None:
        """One step on one replica's batch (inside `strategy.run`).

        Args:
            batch: (images, labels).
            frozen: the frozen phase (see `StepPart.frozen_steps`).
            last: a bool tensor, True on the last step of a loop (what is measured once per
                loop: train top-5, gradient norms).
        """
        images, labels = batch[0], batch[1]
        grads, per_example, logits = self._gradients(images, labels, frozen)
        for part in self.parts:
            part.observe_gradients(grads, frozen, last)
        pairs = list(zip(grads, self.trained(frozen)[1], strict=True))
        for part in self.parts:
            pairs = part.apply_gradients(pairs, frozen)
        self.optimizer.apply_gradients(pairs)
        for part in self.parts:
            part.after_update(self.optimizer.iterations)
        self.metrics.update(labels, logits, per_example, with_top_k=last)
