"""The step runner: runs training steps and evaluations, and never decides when.

`StepRunner` owns what the steps need: the model and optimizer (created inside
`strategy.scope()`), the loss, the train metrics, the input iterators, and two compiled
functions: one that runs `num_steps` training steps (`strategy.run` inside a `tf.range` loop, so
the host is involved once per call) and one that evaluates the whole eval set. When to call them,
checkpoint, report or stop is the `Controller`'s business (Orbit's runner/controller split). The
data position across epochs and resumes is `deepnets.training.epochs.EpochInput`'s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from deepnets.training.epochs import EpochInput, TrainInputFn
from deepnets.training.evaluation import EvalInputFn, Evaluator
from deepnets.training.fine_tuning import HEAD_LAYER, BackboneSplit
from deepnets.training.gradient_norms import GradientNormRecorder
from deepnets.training.metrics import ClassificationMetrics
from deepnets.training.optim import classification_loss, is_decayed

keras = tf.keras

OptimizerFn = Callable[[Sequence[Any]], keras.optimizers.Optimizer]


@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Sets the global Keras dtype policy (if `name`) for the block, then restores the old one."""
    previous = keras.mixed_precision.global_policy()
    if name:
        keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


class StepRunner:
    """Trains and evaluates a classifier under a distribution strategy, a loop at a time.

    Args:
        strategy: the run's strategy.
        model_fn: builds the model (called inside `strategy.scope()` under the dtype policy of
            `mixed_precision`); the model must return logits and be built (a deepnets model
            built from its `input_shape`, or any model called or built once).
        optimizer_fn: `variables -> optimizer`, called inside the scope; the runner builds the
            optimizer on the model's trainable variables if it is not built yet.
        train_input_fn: `(input_context, epoch) -> dataset` of `(image, label)` batches of the
            per-replica size, at least `steps_per_epoch` batches per replica long.
        steps_per_epoch: optimizer steps per epoch.
        global_batch_size: examples per step over all replicas (the loss averages over it).
        num_classes: number of classes (top-5 becomes top-k for fewer classes).
        eval_input_fn: `input_context -> dataset` of `(image, label, weight)`, finite, or None.
        label_smoothing: of the cross-entropy.
        l2_decay: L2 weight decay of conv/dense kernels, added to their gradients in the step:
            `g + l2_decay * w` (the gradient of `l2_decay * sum(||w||^2) / 2`, without
            computing that term); the reported loss is the data loss.
        mixed_precision: a Keras dtype policy name for the model, or None for float32.
        jit_compile: compile the forward/backward pass with XLA.
        freeze_backbone_steps: the first steps train only the head (the layer `head_layer`),
            with the backbone in inference mode (BatchNorm uses its moving statistics).
        backbone_optimizer_fn: `variables -> optimizer` for the backbone's variables (e.g. a
            lower learning rate); the head then has `optimizer_fn`'s. None: one optimizer.
        head_layer: the layer that is the head.
        log_gradient_norms: record the gradient norm of every top-level layer (stem, blocks,
            classifier) on the last step of each loop; `train` then returns them under
            "gradient_norms". Off, the step computes nothing for it.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model_fn: Callable[[], keras.Model],
        optimizer_fn: OptimizerFn,
        train_input_fn: TrainInputFn,
        *,
        steps_per_epoch: int,
        global_batch_size: int,
        num_classes: int,
        eval_input_fn: EvalInputFn | None = None,
        label_smoothing: float = 0.0,
        l2_decay: float = 0.0,
        mixed_precision: str | None = None,
        jit_compile: bool = False,
        freeze_backbone_steps: int = 0,
        backbone_optimizer_fn: OptimizerFn | None = None,
        head_layer: str = HEAD_LAYER,
        log_gradient_norms: bool = False,
    ) -> None:
        self.input = EpochInput(strategy, train_input_fn, steps_per_epoch)
        self.strategy = strategy
        self.steps_per_epoch = int(steps_per_epoch)
        self.global_batch_size = int(global_batch_size)
        self.label_smoothing = float(label_smoothing)
        self.l2_decay = float(l2_decay)
        self.jit_compile = bool(jit_compile)
        self.freeze_backbone_steps = int(freeze_backbone_steps)
        with strategy.scope():
            with dtype_policy(mixed_precision):
                self.model = model_fn()
            if not self.model.built:
                raise ValueError(
                    "model_fn returned an unbuilt model: build it (model.build(input_shape)) "
                    "or give it its input shape, so its weights exist before the first step."
                )
            if not self.model.trainable_variables:
                raise ValueError("model_fn returned a model without trainable variables.")
            split = self.freeze_backbone_steps > 0 or backbone_optimizer_fn is not None
            self.split = BackboneSplit(self.model, head_layer) if split else None
            self.backbone_optimizer = None
            if backbone_optimizer_fn is not None:
                self.backbone_optimizer = _built(
                    backbone_optimizer_fn, self.split.backbone_variables
                )
                self.optimizer = _built(optimizer_fn, self.split.head_variables)
            else:
                self.optimizer = _built(optimizer_fn, self.model.trainable_variables)
            self.train_metrics = ClassificationMetrics(num_classes, prefix="train")
            self._loss_scaling = isinstance(
                self.optimizer, keras.mixed_precision.LossScaleOptimizer
            )
            scale = (lambda: self.optimizer.dynamic_scale) if self._loss_scaling else None
            self.gradient_recorder = (
                GradientNormRecorder(self.model, scale) if log_gradient_norms else None
            )
        self.evaluator = Evaluator(strategy, self.model, num_classes) if eval_input_fn else None
        self._eval_input_fn = eval_input_fn
        self._eval_dataset: Any = None
        # The optimizer update stays outside XLA: its cross-replica all-reduce (a merge_call)
        # cannot run inside a compiled function.
        self._gradients = (
            tf.function(self._compute_gradients, jit_compile=True)
            if self.jit_compile
            else self._compute_gradients
        )
        self._train_loop = tf.function(functools.partial(self._run_steps, frozen=False))
        self._frozen_loop = tf.function(functools.partial(self._run_steps, frozen=True))
        # Non-trainable state (BatchNorm moving statistics) is updated by each replica on its
        # own batch; averaging it keeps evaluation and saved weights replica-independent.
        self._replica_local_state = [
            v
            for v in self.model.non_trainable_variables
            if tf.as_dtype(v.dtype).is_floating and strategy.num_replicas_in_sync > 1
        ]
        self._average_state = tf.function(self._average_replica_state)
        self._sum_over_replicas = tf.function(self._sum_replicas)

    @property
    def has_eval(self) -> bool:
        """Whether the runner has an eval set."""
        return self.evaluator is not None

    # ------------------------------------------------------------------------ the traced step

    def _compute_gradients(
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
            if self._loss_scaling:
                loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, variables)
        if self.l2_decay:
            grads = self._decayed(grads, variables)
        return grads, per_example, logits

    def _decayed(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """`g + l2 * w` for conv/dense kernels: the gradient an L2 term in the loss would add.

        Each replica adds its share (the replicas' gradients are summed), scaled like the loss
        under loss scaling.
        """
        coefficient = self.l2_decay / tf.distribute.get_replica_context().num_replicas_in_sync
        if self._loss_scaling:
            coefficient *= tf.cast(self.optimizer.dynamic_scale, tf.float32)
        return [
            g + tf.cast(coefficient, g.dtype) * tf.cast(v, g.dtype) if is_decayed(v) else g
            for g, v in zip(grads, variables, strict=True)
        ]

    def _train_step(self, batch: Any, frozen: bool, last: Any = None) -> None:
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
        self.train_metrics.update(labels, logits, per_example, with_top_k=last)

    def _run_steps(self, iterator: Any, num_steps: tf.Tensor, frozen: bool) -> None:
        for i in tf.range(num_steps):
            last = tf.equal(i, num_steps - 1)  # what is measured once per loop: top-5, norms
            self.strategy.run(self._train_step, args=(next(iterator), frozen, last))

    def _average_replica_state(self) -> None:
        for variable in self._replica_local_state:
            local = self.strategy.run(lambda v=variable: tf.identity(v.value))
            variable.assign(self.strategy.reduce(tf.distribute.ReduceOp.MEAN, local, axis=None))

    def _sum_replicas(self, value: tf.Tensor) -> tf.Tensor:
        per_replica = self.strategy.run(tf.identity, args=(value,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    # ---------------------------------------------------------------------- what callers use

    def train_iterator(self, epoch: int = 0, skip_steps: int = 0) -> Any:
        """A distributed iterator over epoch `epoch`'s batches, after `skip_steps` steps of it."""
        return self.input.iterator(epoch, skip_steps)

    def run_steps(self, iterator: Any, num_steps: int, frozen: bool = False) -> dict[str, float]:
        """Runs `num_steps` steps from `iterator` in one compiled call.

        Args:
            iterator: from `train_iterator`, with at least `num_steps` batches left.
            num_steps: steps to run (one traced function serves every value).
            frozen: train only the head, the backbone in inference mode.

        Returns:
            The training metrics of these steps; reading them waits for the steps to end.
        """
        self.train_metrics.reset()
        loop = self._frozen_loop if frozen else self._train_loop
        loop(iterator, tf.constant(num_steps, tf.int32))
        return self.train_metrics.result()

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint of this runner holds: the model and its optimizer(s)."""
        objects = {"model": self.model, "optimizer": self.optimizer}
        if self.backbone_optimizer is not None:
            objects["backbone_optimizer"] = self.backbone_optimizer
        return objects

    def train(self, step: int, num_steps: int) -> dict[str, float]:
        """Trains steps `step + 1 .. step + num_steps`, which must lie within one epoch.

        The runner keeps the epoch's iterator between calls and opens the right one (skipping
        the steps already done) when a call does not continue the previous one; the first
        `freeze_backbone_steps` train the head alone.

        Returns:
            {"loss", "top1", "top5", "examples"} of these steps.
        """
        iterator = self.input.for_steps(step, num_steps)
        frozen = step < self.freeze_backbone_steps
        if frozen and step + num_steps > self.freeze_backbone_steps:
            raise ValueError(
                f"steps {step + 1}..{step + num_steps} cross the end of the frozen backbone "
                f"(step {self.freeze_backbone_steps})"
            )
        metrics = self.run_steps(iterator, num_steps, frozen)
        if self.gradient_recorder is not None and not frozen:
            metrics["gradient_norms"] = self.gradient_recorder.read()
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Evaluates the current weights on the whole eval set ({} without one)."""
        if self.evaluator is None:
            return {}
        if self._eval_dataset is None:
            self._eval_dataset = self.strategy.distribute_datasets_from_function(
                self._eval_input_fn
            )
        self.sync_state()
        return self.evaluator.evaluate(self._eval_dataset)

    def sync_state(self) -> None:
        """Averages replica-local state (BatchNorm statistics) over replicas; call before saving."""
        self._average_state()

    def any_replica(self, flag: bool) -> bool:
        """True if `flag` is True on any replica of any worker (every worker must call it)."""
        return bool(self._sum_over_replicas(tf.constant(int(flag), tf.int32)).numpy() > 0)


def _built(optimizer_fn: OptimizerFn, variables: list[Any]) -> keras.optimizers.Optimizer:
    optimizer = optimizer_fn(variables)
    if not optimizer.built:
        optimizer.build(variables)
    return optimizer
