"""The step runner: runs training steps and evaluations, and never decides when.

`StepRunner` owns what the steps need: the model and optimizer (created inside
`strategy.scope()`), the loss, the train metrics, the input iterators, and two compiled
functions: one that runs `num_steps` training steps (`strategy.run` inside a `tf.range` loop, so
the host is involved once per call) and one that evaluates the whole eval set. When to call them,
checkpoint, report or stop is the `Controller`'s business (Orbit's runner/controller split). The
data position across epochs and resumes is `deepnets.training.loop.epochs.EpochInput`'s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from deepnets.training.loop.epochs import EpochInput, TrainInputFn
from deepnets.training.loop.evaluation import EvalInputFn, Evaluator
from deepnets.training.loop.gradient_norms import GradientNormRecorder
from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.loop.step import TrainStep
from deepnets.training.optimization.averaging import Lookahead, WeightAverage
from deepnets.training.optimization.backbone import HEAD_LAYER, BackboneSplit

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
        bn_bias_lr_multiplier: multiplies the gradients of BatchNorm offsets (see `TrainStep`).
        bn_scale_lr_multiplier: multiplies those of BatchNorm scales (0 freezes them).
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
        ema_decay: keep an exponential moving average of the weights with this decay, and
            evaluate, checkpoint and export it (`WeightAverage`); None: the weights as trained.
        lookahead_steps: pull the weights back to slow weights every this many steps
            (airbench's lookahead, see `Lookahead`; needs `total_steps`); 0: none.
        lookahead_decay: the lookahead's per-step decay at the end of the run.
        eval_flip: evaluate with test-time flip averaging (see `Evaluator`).
        eval_translate: evaluate with views shifted by this many pixels too (see `Evaluator`).
        total_steps: the step the run ends at; its loops then continue one training iterator
            across epochs (see `EpochInput`). None: one iterator per epoch.
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
        bn_bias_lr_multiplier: float = 1.0,
        bn_scale_lr_multiplier: float = 1.0,
        mixed_precision: str | None = None,
        jit_compile: bool = False,
        freeze_backbone_steps: int = 0,
        backbone_optimizer_fn: OptimizerFn | None = None,
        head_layer: str = HEAD_LAYER,
        log_gradient_norms: bool = False,
        ema_decay: float | None = None,
        lookahead_steps: int = 0,
        lookahead_decay: float = 0.95,
        eval_flip: bool = False,
        eval_translate: int = 0,
        total_steps: int | None = None,
    ) -> None:
        self.input = EpochInput(
            strategy, train_input_fn, steps_per_epoch, total_steps, global_batch_size
        )
        self.strategy = strategy
        self.steps_per_epoch = int(steps_per_epoch)
        self.global_batch_size = int(global_batch_size)
        self.jit_compile = bool(jit_compile)
        self.freeze_backbone_steps = int(freeze_backbone_steps)

        def make_model() -> keras.Model:
            with dtype_policy(mixed_precision):
                return model_fn()

        with strategy.scope():
            self.model = make_model()
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
            scaling = isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer)
            scale = (lambda: self.optimizer.dynamic_scale) if scaling else None
            self.gradient_recorder = (
                GradientNormRecorder(self.model, scale) if log_gradient_norms else None
            )
            self.weight_average = (
                WeightAverage(self.model, make_model, ema_decay) if ema_decay else None
            )
            self.lookahead = None
            if lookahead_steps:
                if total_steps is None:
                    raise ValueError("lookahead_steps needs total_steps (the step the run ends at)")
                self.lookahead = Lookahead(
                    self.model, lookahead_steps, lookahead_decay, total_steps
                )
        self.step = TrainStep(
            self.model,
            self.optimizer,
            global_batch_size=self.global_batch_size,
            label_smoothing=label_smoothing,
            l2_decay=l2_decay,
            bn_bias_lr_multiplier=bn_bias_lr_multiplier,
            bn_scale_lr_multiplier=bn_scale_lr_multiplier,
            metrics=self.train_metrics,
            split=self.split,
            backbone_optimizer=self.backbone_optimizer,
            gradient_recorder=self.gradient_recorder,
            weight_average=self.weight_average,
            lookahead=self.lookahead,
            jit_compile=jit_compile,
        )
        self.evaluator = (
            Evaluator(
                strategy,
                self.export_model,
                num_classes,
                flip=eval_flip,
                translate=eval_translate,
            )
            if eval_input_fn
            else None
        )
        self._eval_input_fn = eval_input_fn
        self._eval_dataset: Any = None
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
    def export_model(self) -> keras.Model:
        """The model to evaluate and save: the weight average when there is one."""
        return self.weight_average.model if self.weight_average is not None else self.model

    @property
    def has_eval(self) -> bool:
        """Whether the runner has an eval set."""
        return self.evaluator is not None

    # ----------------------------------------------------------------------- the traced loops

    def _run_steps(self, iterator: Any, num_steps: tf.Tensor, frozen: bool) -> None:
        for i in tf.range(num_steps):
            last = tf.equal(i, num_steps - 1)  # what is measured once per loop: top-5, norms
            self.strategy.run(self.step, args=(next(iterator), frozen, last))

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
        """What a checkpoint of this runner holds: the model, its optimizer(s) and the weight
        average (as the "ema_model", which `sync_state` brings up to date) and the lookahead's
        slow weights."""
        objects = {"model": self.model, "optimizer": self.optimizer}
        if self.backbone_optimizer is not None:
            objects["backbone_optimizer"] = self.backbone_optimizer
        if self.weight_average is not None:
            objects["ema_model"] = self.weight_average.model
        if self.lookahead is not None:
            objects["lookahead"] = self.lookahead.state
        return objects

    def restored(self) -> None:
        """Takes up the state a checkpoint restored (the weight average)."""
        if self.weight_average is not None:
            self.weight_average.from_model()

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
        """Averages replica-local state (BatchNorm statistics) over replicas and brings the
        weight average's model up to date; call before evaluating or saving."""
        self._average_state()
        if self.weight_average is not None:
            self.weight_average.to_model()

    def any_replica(self, flag: bool) -> bool:
        """True if `flag` is True on any replica of any worker (every worker must call it)."""
        return bool(self._sum_over_replicas(tf.constant(int(flag), tf.int32)).numpy() > 0)


def _built(optimizer_fn: OptimizerFn, variables: list[Any]) -> keras.optimizers.Optimizer:
    optimizer = optimizer_fn(variables)
    if not optimizer.built:
        optimizer.build(variables)
    return optimizer
