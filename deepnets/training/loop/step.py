"""One training step on one replica: forward, loss, gradients, weight decay, update, metrics.

The `StepRunner` calls a `TrainStep` inside `strategy.run`, many times per compiled loop. The
loss is the data loss averaged over the global batch (`tf.nn.compute_average_loss`, plus the
layers' own losses); L2 weight decay is added to the kernels' gradients, not to the loss (and
BatchNorm offsets' and scales' gradients may be scaled, airbench's learning rates for them); with
a frozen backbone only the head is differentiated, the backbone in inference mode.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.gradient_norms import GradientNormRecorder
from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.optimization.averaging import Lookahead, WeightAverage
from deepnets.training.optimization.backbone import BackboneSplit
from deepnets.training.optimization.optimizers import (
    batch_norm_parameters,
    classification_loss,
    is_decayed,
)

keras = tf.keras


class TrainStep:
    """What one step does (see the module docstring).

    Args:
        model: the trained model (logits).
        optimizer: updates every variable, or the head's when there is a `backbone_optimizer`.
        global_batch_size: the loss averages over it (all replicas).
        label_smoothing: of the cross-entropy.
        l2_decay: `g + l2_decay * w` for conv/dense kernels.
        bn_bias_lr_multiplier: the gradients of BatchNorm offsets are multiplied by it (under
            SGD, with or without momentum, the same as multiplying their learning rate).
        bn_scale_lr_multiplier: the same for BatchNorm scales; 0 keeps them at their initial
            value (airbench's BatchNorm, whose scale is fixed at 1).
        metrics: the train metrics, updated every step (top-k on the last of a loop).
        split: the head and backbone, for frozen steps and a backbone optimizer.
        backbone_optimizer: updates the backbone's variables, or None.
        gradient_recorder: records gradient norms on the last step of a loop, or None.
        weight_average: updated after every step, or None.
        lookahead: updated after every step (before the weight average), or None.
        jit_compile: compile the forward/backward pass with XLA.
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        *,
        global_batch_size: int,
        label_smoothing: float,
        l2_decay: float,
        bn_bias_lr_multiplier: float = 1.0,
        bn_scale_lr_multiplier: float = 1.0,
        metrics: ClassificationMetrics,
        split: BackboneSplit | None = None,
        backbone_optimizer: keras.optimizers.Optimizer | None = None,
        gradient_recorder: GradientNormRecorder | None = None,
        weight_average: WeightAverage | None = None,
        lookahead: Lookahead | None = None,
        jit_compile: bool = False,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.global_batch_size = int(global_batch_size)
        self.label_smoothing = float(label_smoothing)
        self.l2_decay = float(l2_decay)
        # variable id -> gradient multiplier, for the variables whose multiplier is not 1
        self._multipliers = {
            id(v): float(multiplier)
            for which, multiplier in (
                ("beta", bn_bias_lr_multiplier),
                ("gamma", bn_scale_lr_multiplier),
            )
            if multiplier != 1.0
            for v in batch_norm_parameters(model, which)
        }
        self.metrics = metrics
        self.split = split
        self.backbone_optimizer = backbone_optimizer
        self.gradient_recorder = gradient_recorder
        self.weight_average = weight_average
        self.lookahead = lookahead
        self.loss_scaling = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        # The optimizer update stays outside XLA: its cross-replica all-reduce (a merge_call)
        # cannot run inside a compiled function.
        self._gradients = (
            tf.function(self.gradients, jit_compile=True) if jit_compile else self.gradients
        )

    def gradients(
        self, images: tf.Tensor, labels: tf.Tensor, frozen: bool = False
    ) -> tuple[Any, ...]:
        variables = self.split.head_variables if frozen else self.model.trainable_variables
        with tf.GradientTape() as tape:
            if frozen:  # the backbone in inference mode: BatchNorm keeps its statistics
                features = self.split.features(images, training=False)
                outputs = self.split.head(features, training=True)
            else:
                outputs = self.model(images, training=True)
            logits = tf.cast(outputs, tf.float32)
            per_example = classification_loss(labels, logits, self.label_smoothing)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            regularization = [tf.cast(x, tf.float32) for x in self.model.losses]
            if regularization:
                loss += tf.nn.scale_regularization_loss(tf.add_n(regularization))
            if self.loss_scaling:
                loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, variables)
        if self.l2_decay:
            grads = self._decayed(grads, variables)
        if self._multipliers:
            grads = [
                g * tf.cast(self._multipliers[id(v)], g.dtype) if id(v) in self._multipliers else g
                for g, v in zip(grads, variables, strict=True)
            ]
        return grads, per_example, logits

    def _decayed(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """`g + l2 * w` for conv/dense kernels: the gradient an L2 term in the loss would add.

        Each replica adds its share (the replicas' gradients are summed), scaled like the loss
        under loss scaling.
        """
        coefficient = self.l2_decay / tf.distribute.get_replica_context().num_replicas_in_sync
        if self.loss_scaling:
            coefficient *= tf.cast(self.optimizer.dynamic_scale, tf.float32)
        return [
            g + tf.cast(coefficient, g.dtype) * tf.cast(v, g.dtype) if is_decayed(v) else g
            for g, v in zip(grads, variables, strict=True)
        ]

    def __call__(self, batch: Any, frozen: bool, last: Any) -> None:
        """One step on one replica's batch (inside `strategy.run`).

        Args:
            batch: (images, labels).
            frozen: train the head alone, the backbone in inference mode.
            last: a bool tensor, True on the last step of a loop (what is measured once per
                loop: train top-5, gradient norms).
        """
        images, labels = batch[0], batch[1]
        grads, per_example, logits = self._gradients(images, labels, frozen)
        if self.gradient_recorder is not None and not frozen:

            def record() -> tf.Tensor:
                self.gradient_recorder.record(grads)
                return tf.constant(True)

            tf.cond(last, record, lambda: tf.constant(False))
        if frozen:
            self.optimizer.apply_gradients(zip(grads, self.split.head_variables, strict=True))
        elif self.backbone_optimizer is not None:
            pairs = list(zip(grads, self.model.trainable_variables, strict=True))
            head = [p for p, is_head in zip(pairs, self.split.is_head, strict=True) if is_head]
            rest = [p for p, is_head in zip(pairs, self.split.is_head, strict=True) if not is_head]
            self.backbone_optimizer.apply_gradients(rest)
            self.optimizer.apply_gradients(head)
        else:
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        if self.lookahead is not None:
            self.lookahead.update(self.optimizer.iterations)
        if self.weight_average is not None:
            self.weight_average.update(self.optimizer.iterations)
        self.metrics.update(labels, logits, per_example, with_top_k=last)
