"""The step runner: runs training steps and evaluations, and never decides when.

`StepRunner` owns what the steps need: the model and optimizer (created inside
`strategy.scope()`), the loss, the train metrics, the input iterators, the training options as
parts (`deepnets.training.loop.parts`), and two compiled functions: one that runs `num_steps`
training steps (`strategy.run` inside a `tf.range` loop, so the host is involved once per call)
and one that evaluates the whole eval set. When to call them, checkpoint, report or stop is the
`Controller`'s business (Orbit's runner/controller split). The data position across epochs and
resumes is `deepnets.training.loop.epochs.EpochInput`'s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from deepnets.training.loop.distributed_input import distribute
from deepnets.training.loop.epochs import EpochInput, TrainInputFn
from deepnets.training.loop.evaluation import EvalInputFn, Evaluator
from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.loop.parts.base import OptimizerFn, PartSetup, StepPart, built_optimizer
from deepnets.training.loop.removed_options import check_removed_options
from deepnets.training.loop.step import StepSettings, TrainStep

keras = tf.keras


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
            `settings.mixed_precision`); the model must return logits and be built (a deepnets
            model built from its `input_shape`, or any model called or built once).
        optimizer_fn: `variables -> optimizer`, called inside the scope; the runner builds the
            optimizer on the model's trainable variables (those no part updates itself) if it
            is not built yet.
        train_input_fn: `(input_context, epoch) -> dataset` of `(image, label)` batches of the
            per-replica size, at least `settings.steps_per_epoch` batches per replica long.
        settings: the steps' numbers (`StepSettings`: steps per epoch, global batch size,
            classes, run length, label smoothing, mixed precision, XLA, test-time averaging).
        eval_input_fn: `input_context -> dataset` of `(image, label, weight)`, finite, or None.
        parts: the training options (`deepnets.training.loop.parts`: `L2Decay`,
            `BatchNormRateMultipliers`, `FrozenBackbone`, `BackboneOptimizer`, `GradientNorms`,
            `Lookahead`, `EMA`, or your own `StepPart`), applied in this order. A part
            instance serves one runner.

    Raises:
        TypeError: an option of version 0.2's signature (`l2_decay=`, `ema_decay=`,
            `steps_per_epoch=`, ...), naming the part or setting that replaces it.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model_fn: Callable[[], keras.Model],
        optimizer_fn: OptimizerFn,
        train_input_fn: TrainInputFn,
        settings: StepSettings | None = None,
        *,
        eval_input_fn: EvalInputFn | None = None,
        parts: Sequence[StepPart] = (),
        **removed: Any,
    ) -> None:
        check_removed_options(removed, settings)
        self.settings = settings
        self.parts = list(parts)
        for part in self.parts:  # a part holds the state of one model (its `build`)
            if getattr(part, "_in_a_runner", False):
                raise ValueError(
                    f"this {type(part).__name__} part is already in a StepRunner: give each "
                    "runner parts of its own"
                )
            part._in_a_runner = True
        self.input = EpochInput(
            strategy,
            train_input_fn,
            settings.steps_per_epoch,
            settings.total_steps,
            settings.global_batch_size,
        )
        self.strategy = strategy
        self.steps_per_epoch = int(settings.steps_per_epoch)
        self.global_batch_size = int(settings.global_batch_size)
        self.jit_compile = bool(settings.jit_compile)

        def make_model() -> keras.Model:
            with dtype_policy(settings.mixed_precision):
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
            setup = PartSetup(
                strategy, self.model, make_model, settings.total_steps, self._loss_scale
            )
            for part in self.parts:
                part.build(setup)
            variables = self.model.trainable_variables
            for part in self.parts:
                variables = part.optimizer_variables(variables)
            self.optimizer = built_optimizer(optimizer_fn, variables)
            self.train_metrics = ClassificationMetrics(settings.num_classes, prefix="train")
        self.step = TrainStep(self.model, self.optimizer, self.train_metrics, self.parts, settings)
        self.evaluator = (
            Evaluator(
                strategy,
                self.export_model,
                settings.num_classes,
                flip=settings.eval_flip,
                translate=settings.eval_translate,
            )
            if eval_input_fn
            else None
        )
        self._eval_input_fn = eval_input_fn
        self._eval_dataset: Any = None
        # Traced without AutoGraph, as every traced function of the loop (no Python control
        # flow on tensors; converting took 1-3 s of every training start: docs/performance.md).
        self._train_loop, self._frozen_loop = (
            tf.function(functools.partial(self._run_steps, frozen=frozen), autograph=False)
            for frozen in (False, True)
        )
        # Non-trainable state (BatchNorm moving statistics) is updated by each replica on its
        # own batch; averaging it keeps evaluation and saved weights replica-independent.
        self._replica_local_state = [
            v
            for v in self.model.non_trainable_variables
            if tf.as_dtype(v.dtype).is_floating and strategy.num_replicas_in_sync > 1
        ]
        self._average_state = tf.function(self._average_replica_state, autograph=False)
        self._sum_over_replicas = tf.function(self._sum_replicas, autograph=False)

    def _loss_scale(self) -> Any:
        """The loss scale the gradients carry (the optimizer's, under mixed_float16) or None."""
        if isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer):
            return self.optimizer.dynamic_scale
        return None

    def part(self, kind: type[StepPart]) -> StepPart | None:
        """The runner's first part of class `kind`, or None."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    @property
    def frozen_steps(self) -> int:
        """The first steps, trained in the frozen phase of a part (`FrozenBackbone`)."""
        return max((part.frozen_steps for part in self.parts), default=0)

    @property
    def loop_reports(self) -> frozenset[str]:
        """What `train` returns beside the metrics (e.g. "gradient_norms"), by the parts."""
        return frozenset().union(*(part.loop_reports for part in self.parts))

    @property
    def export_model(self) -> keras.Model:
        """The model to evaluate and save: the weight average when there is one (`EMA`)."""
        model = self.model
        for part in self.parts:
            model = part.export_model(model)
        return model

    @property
    def has_eval(self) -> bool:
        """Whether the runner has an eval set."""
        return self.evaluator is not None

    # ----------------------------------------------------------------------- the traced loops

    def _run_steps(self, iterator: Any, num_steps: tf.Tensor, frozen: bool) -> None:
        def step(i: tf.Tensor) -> tuple[tf.Tensor]:
            last = tf.equal(i, num_steps - 1)  # what is measured once per loop: top-5, norms
            self.strategy.run(self.step, args=(next(iterator), frozen, last))
            return (i + 1,)

        tf.while_loop(
            lambda i: i < num_steps, step, (tf.constant(0),), maximum_iterations=num_steps
        )

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
            frozen: run the parts' frozen phase (a frozen backbone: the head alone, the
                backbone in inference mode).

        Returns:
            The training metrics of these steps; reading them waits for the steps to end.
        """
        self.train_metrics.reset()
        loop = self._frozen_loop if frozen else self._train_loop
        loop(iterator, tf.constant(num_steps, tf.int32))
        return self.train_metrics.result()

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint of this runner holds, by key: the model, its optimizer and each
        part's state (e.g. "backbone_optimizer", "ema_model", "lookahead").

        Raises:
            ValueError: two parts, or a part and the runner, use the same key.
        """
        objects = {"model": self.model, "optimizer": self.optimizer}
        for part in self.parts:
            for key, value in part.checkpoint_objects().items():
                if key in objects:
                    raise ValueError(
                        f"{type(part).__name__} checkpoints {key!r}, a key already taken "
                        f"(taken: {sorted(objects)})"
                    )
                objects[key] = value
        return objects

    def restored(self) -> None:
        """Takes up the state a checkpoint restored (e.g. the weight average)."""
        for part in self.parts:
            part.restored()

    def train(self, step: int, num_steps: int) -> dict[str, float]:
        """Trains steps `step + 1 .. step + num_steps`, which must lie within one epoch.

        The runner keeps the epoch's iterator between calls and opens the right one (skipping
        the steps already done) when a call does not continue the previous one; the first
        `frozen_steps` run the parts' frozen phase (a frozen backbone: the head alone).

        Returns:
            {"loss", "top1", "top5", "examples"} of these steps, and the parts' `loop_reports`.
        """
        iterator = self.input.for_steps(step, num_steps)
        frozen_steps = self.frozen_steps
        frozen = step < frozen_steps
        if frozen and step + num_steps > frozen_steps:
            raise ValueError(
                f"steps {step + 1}..{step + num_steps} cross the end of the frozen backbone "
                f"(step {frozen_steps})"
            )
        metrics = self.run_steps(iterator, num_steps, frozen)
        for part in self.parts:
            metrics.update(part.loop_metrics(frozen))
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Evaluates the current weights on the whole eval set ({} without one)."""
        if self.evaluator is None:
            return {}
        if self._eval_dataset is None:
            self._eval_dataset = distribute(self.strategy, self._eval_input_fn)
        self.sync_state()
        return self.evaluator.evaluate(self._eval_dataset)

    def sync_state(self) -> None:
        """Averages replica-local state (BatchNorm statistics) over replicas and brings the
        parts' state (the weight average's model) up to date; call before evaluating or
        saving."""
        self._average_state()
        for part in self.parts:
            part.sync()

    def any_replica(self, flag: bool) -> bool:
        """True if `flag` is True on any replica of any worker (every worker must call it)."""
        return bool(self._sum_over_replicas(tf.constant(int(flag), tf.int32)).numpy() > 0)
