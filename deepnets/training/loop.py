"""The `Trainer`: a distributed custom training loop that does not know which model it trains.

One `tf.function` runs `steps_per_loop` steps (`strategy.run(step)` inside a `tf.range` loop).
Between loops the host reads the metrics, checks the loss is finite, reports, evaluates,
checkpoints and honours SIGTERM. Loops never cross an epoch, evaluation or checkpoint boundary.

Input position on resume: distributed iterators cannot be checkpointed in TF 2.21
(`tf.train.Checkpoint` rejects a `DistributedIterator` as not trackable), so the data of epoch
`e` comes from a fresh pipeline built by `train_input_fn(ctx, e)` (seed it from (seed, e)), and
a run resumed mid-epoch skips the batches that epoch had already used. A resumed run therefore
sees the same batches as an uninterrupted one whenever the pipeline is deterministic for a seed.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf

from deepnets.training.checkpointing import CheckpointKeeper
from deepnets.training.config import TrainConfig
from deepnets.training.errors import NonFiniteLossError
from deepnets.training.evaluation import EvalInputFn, Evaluator
from deepnets.training.metrics import ClassificationMetrics
from deepnets.training.optim import classification_loss, l2_weight_decay_loss, make_optimizer
from deepnets.training.plotting import write_curves_png
from deepnets.training.preemption import SigtermFlag
from deepnets.training.reporting import (
    MetricsCsv,
    TensorBoardLogger,
    format_eval_line,
    format_train_line,
    read_metrics_csv,
)
from deepnets.training.results import TrainResult
from deepnets.training.schedules import make_schedule
from deepnets.training.strategy import is_chief, is_multi_worker, resolve_jit_compile

keras = tf.keras

TrainInputFn = Callable[[tf.distribute.InputContext, int], tf.data.Dataset]


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


class Trainer:
    """Trains a model under a distribution strategy with checkpoints, eval and reporting.

    Args:
        cfg: the run's config (validated here).
        strategy: from `make_strategy(cfg)`.
        model_fn: builds the model (called inside `strategy.scope()` under the run's dtype
            policy); the model must return logits.
        train_input_fn: `(input_context, epoch) -> dataset` of `(image, label)` batched per
            replica (`input_context.get_per_replica_batch_size(global_batch_size)`), at least
            `steps_per_epoch` batches per replica long (a repeated dataset is fine).
        steps_per_epoch: optimizer steps per epoch.
        input_shape: shape of one image, e.g. (32, 32, 3), used to build the model.
        num_classes: number of classes.
        eval_input_fn: `input_context -> dataset` of `(image, label, weight)`, finite, or None.

    Creating a Trainer sets Keras' global random seed (Python, NumPy and TensorFlow) when
    `cfg.seed` is set, and enables op determinism process-wide when `cfg.deterministic`.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        strategy: tf.distribute.Strategy,
        model_fn: Callable[[], keras.Model],
        train_input_fn: TrainInputFn,
        *,
        steps_per_epoch: int,
        input_shape: tuple[int, ...],
        num_classes: int,
        eval_input_fn: EvalInputFn | None = None,
    ) -> None:
        self.cfg = cfg.validate()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.strategy = strategy
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = cfg.train_steps or cfg.epochs * self.steps_per_epoch
        self.input_shape = tuple(input_shape)
        self.chief = is_chief(strategy)
        self._multi_worker = is_multi_worker(strategy)
        self._train_input_fn = train_input_fn
        self._eval_input_fn = eval_input_fn
        self._eval_dataset: Any = None
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        if cfg.seed is not None:
            keras.utils.set_random_seed(cfg.seed)

        with strategy.scope():
            with dtype_policy(cfg.mixed_precision):
                self.model = model_fn()
                if not self.model.built:
                    self.model.build((None, *self.input_shape))
            if not self.model.trainable_variables:
                raise ValueError("model_fn returned a model without trainable variables.")
            self.schedule = make_schedule(cfg, self.steps_per_epoch, self.total_steps)
            self.optimizer = make_optimizer(cfg, self.schedule, self.model.trainable_variables)
            self.train_metrics = ClassificationMetrics(num_classes, prefix="train")
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.evaluator = Evaluator(strategy, self.model, num_classes) if eval_input_fn else None
        self.checkpoints = CheckpointKeeper(
            strategy,
            cfg.model_dir,
            cfg.keep_checkpoints,
            model=self.model,
            optimizer=self.optimizer,
            step=self._step,
            epoch=self._epoch,
        )
        self._l2 = cfg.resolved_weight_decay_mode == "l2" and cfg.weight_decay > 0
        self._loss_scaling = isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer)
        self.jit_compile = resolve_jit_compile(cfg.jit_compile, strategy)
        # The optimizer update stays outside XLA: its cross-replica all-reduce (a merge_call)
        # cannot run inside a compiled function.
        self._gradients = (
            tf.function(self._compute_gradients, jit_compile=True)
            if self.jit_compile
            else self._compute_gradients
        )
        self._train_loop = tf.function(self._run_steps)
        # Non-trainable state (BatchNorm moving statistics) is updated by each replica on its
        # own batch; averaging it keeps evaluation and saved weights replica-independent.
        self._replica_local_state = [
            v
            for v in self.model.non_trainable_variables
            if tf.as_dtype(v.dtype).is_floating and strategy.num_replicas_in_sync > 1
        ]
        self._average_state = tf.function(self._average_replica_state)
        self._any_worker = tf.function(self._sum_over_workers)

    # ----------------------------------------------------------------------------- step logic

    def _compute_gradients(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[Any, ...]:
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(images, training=True), tf.float32)
            per_example = classification_loss(labels, logits, self.cfg.label_smoothing)
            loss = tf.nn.compute_average_loss(
                per_example, global_batch_size=self.cfg.global_batch_size
            )
            regularization = [tf.cast(x, tf.float32) for x in self.model.losses]
            if self._l2:
                regularization.append(l2_weight_decay_loss(variables, self.cfg.weight_decay))
            if regularization:
                loss += tf.nn.scale_regularization_loss(tf.add_n(regularization))
            if self._loss_scaling:
                loss = self.optimizer.scale_loss(loss)
        return tape.gradient(loss, variables), per_example, logits

    def _train_step(self, batch: Any) -> None:
        images, labels = batch[0], batch[1]
        grads, per_example, logits = self._gradients(images, labels)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        self.train_metrics.update(labels, logits, per_example)

    def _run_steps(self, iterator: Any, num_steps: tf.Tensor) -> None:
        for _ in tf.range(num_steps):
            self.strategy.run(self._train_step, args=(next(iterator),))

    def _average_replica_state(self) -> None:
        for variable in self._replica_local_state:
            local = self.strategy.run(lambda v=variable: tf.identity(v.value))
            variable.assign(self.strategy.reduce(tf.distribute.ReduceOp.MEAN, local, axis=None))

    def _sum_over_workers(self, value: tf.Tensor) -> tf.Tensor:
        per_replica = self.strategy.run(tf.identity, args=(value,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    # ------------------------------------------------------------------------------- the loop

    def train_iterator(self, epoch: int = 0) -> Any:
        """A distributed iterator over the training batches of `epoch`, for `run_steps`."""
        return self._epoch_iterator(epoch, 0)

    def run_steps(self, iterator: Any, num_steps: int) -> dict[str, float]:
        """Runs `num_steps` steps in the compiled loop of `fit`, without reports or checkpoints.

        Args:
            iterator: from `train_iterator`, with at least `num_steps` batches left.
            num_steps: steps to run (one traced function serves every value).

        Returns:
            The training metrics of these steps; reading them waits for the steps to end.
        """
        self.train_metrics.reset()
        self._train_loop(iterator, tf.constant(num_steps, tf.int32))
        return self.train_metrics.result()

    def _epoch_iterator(self, epoch: int, steps_done_in_epoch: int) -> Any:
        remaining = self.steps_per_epoch - steps_done_in_epoch

        def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            # Replicas of one worker share its pipeline, each taking one batch per step.
            batches_per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            dataset = self._train_input_fn(ctx, epoch)
            if steps_done_in_epoch:
                dataset = dataset.skip(steps_done_in_epoch * batches_per_step)
            return dataset.take(remaining * batches_per_step)

        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def _loop_length(self, step: int) -> int:
        limits = [
            self.cfg.steps_per_loop,
            self.total_steps - step,
            self.steps_per_epoch - step % self.steps_per_epoch,
        ]
        for every in (self.cfg.checkpoint_every_steps, self.cfg.eval_every_steps):
            if every:
                limits.append(every - step % every)
        return min(limits)

    def _due(self, step: int, every: int | None) -> bool:
        if step == self.total_steps:
            return True
        if every is None:
            return step % self.steps_per_epoch == 0
        return step % every == 0

    def _stop_requested(self, flag: SigtermFlag) -> bool:
        if not self._multi_worker:
            return flag.requested
        # Every worker must stop at the same step, or the others would hang in a collective.
        return bool(self._any_worker(tf.constant(int(flag.requested), tf.int32)).numpy() > 0)

    def evaluate(self) -> dict[str, float]:
        """Evaluates the current weights on the whole eval set.

        Returns:
            {"loss", "top1", "top5", "examples"}, or {} without an eval set.
        """
        if self.evaluator is None:
            return {}
        if self._eval_dataset is None:
            self._eval_dataset = self.strategy.distribute_datasets_from_function(
                self._eval_input_fn
            )
        self._average_state()
        return self.evaluator.evaluate(self._eval_dataset)

    def save_checkpoint(self, step: int) -> str | None:
        """Averages replica-local state and writes a checkpoint at `step`.

        Returns:
            The chief's checkpoint path.
        """
        self._average_state()
        self._step.assign(step)
        self._epoch.assign(step // self.steps_per_epoch)
        return self.checkpoints.save(step)

    def fit(self) -> TrainResult:
        """Trains to `total_steps`, resuming from the newest checkpoint in `model_dir`.

        Returns:
            A `TrainResult` (final model paths are left None; `train` fills them).

        Raises:
            NonFiniteLossError: when a loop's loss is NaN/Inf; that state is not saved.
        """
        cfg, total, spe = self.cfg, self.total_steps, self.steps_per_epoch
        resumed_from = self.checkpoints.restore_latest()
        step = int(self._step.numpy())
        total_epochs = math.ceil(total / spe)
        if resumed_from and self.chief:
            print(f"Resumed from {resumed_from} at step {step}/{total}.", flush=True)
        csv_path = os.path.join(cfg.model_dir, "metrics.csv")
        csv = MetricsCsv(csv_path, resume_step=step, enabled=self.chief)
        board = TensorBoardLogger(os.path.join(cfg.model_dir, "tensorboard"), enabled=self.chief)
        train_metrics: dict[str, float] = {}
        eval_metrics: dict[str, float] = {}
        preempted = False
        iterator, iterator_epoch = None, None
        try:
            with SigtermFlag() as sigterm:
                while step < total:
                    epoch = step // spe
                    if iterator_epoch != epoch:
                        iterator, iterator_epoch = self._epoch_iterator(epoch, step % spe), epoch
                    num_steps = self._loop_length(step)
                    started = time.perf_counter()
                    train_metrics = self.run_steps(iterator, num_steps)
                    seconds = time.perf_counter() - started
                    first_step, step = step + 1, step + num_steps
                    if not math.isfinite(train_metrics["loss"]):
                        raise NonFiniteLossError(
                            first_step, step, train_metrics["loss"], self.checkpoints.latest
                        )
                    rate = float(self.schedule(step - 1))
                    images_per_sec = num_steps * cfg.global_batch_size / max(seconds, 1e-9)
                    row = dict(train_metrics, learning_rate=rate, images_per_sec=images_per_sec)
                    board.scalars("train", row, step)
                    csv.append(dict(row, step=step, epoch=step / spe, split="train"))
                    if self.chief and self._should_log(step, num_steps):
                        line = format_train_line(
                            step=step,
                            total_steps=total,
                            epoch=min(epoch + 1, total_epochs),
                            total_epochs=total_epochs,
                            metrics=train_metrics,
                            learning_rate=rate,
                            images_per_sec=images_per_sec,
                            eta_seconds=(total - step) * seconds / num_steps,
                        )
                        print(line, flush=True)
                    if self.evaluator is not None and self._due(step, cfg.eval_every_steps):
                        eval_metrics = self.evaluate()
                        board.scalars("eval", eval_metrics, step)
                        csv.append(dict(eval_metrics, step=step, epoch=step / spe, split="eval"))
                        if self.chief:
                            print(format_eval_line(step, eval_metrics), flush=True)
                            write_curves_png(read_metrics_csv(csv_path), self._curves_path)
                    if self._due(step, cfg.checkpoint_every_steps):
                        self.save_checkpoint(step)
                    if self._stop_requested(sigterm):
                        path = self.save_checkpoint(step)
                        preempted = True
                        if self.chief:
                            print(
                                f"SIGTERM received: saved checkpoint {path} at step "
                                f"{step}/{total}; stopping cleanly. Run again to resume.",
                                flush=True,
                            )
                        break
            if not preempted:
                self.save_checkpoint(step)
                if not eval_metrics and self.evaluator is not None:
                    eval_metrics = self.evaluate()
            curves = None
            if self.chief and os.path.exists(csv_path):
                curves = write_curves_png(read_metrics_csv(csv_path), self._curves_path)
        finally:
            board.close()
        return TrainResult(
            final_step=step,
            total_steps=total,
            train_metrics=train_metrics,
            eval_metrics=eval_metrics,
            model_dir=cfg.model_dir,
            checkpoint_path=self.checkpoints.latest,
            metrics_csv=csv_path,
            curves_png=curves,
            preempted=preempted,
            resumed_from=resumed_from,
        )

    @property
    def _curves_path(self) -> str:
        return os.path.join(self.cfg.model_dir, "curves.png")

    def _should_log(self, step: int, num_steps: int) -> bool:
        every = self.cfg.log_every_steps
        if every is None or step == self.total_steps:
            return True
        return step // every != (step - num_steps) // every

    def save_final_model(self) -> tuple[str | None, str | None]:
        """Saves `final.keras` and (if `cfg.export_saved_model`) a SavedModel in `model_dir`.

        Every worker of a multi-worker run must call it; non-chief workers write to a temporary
        folder that is deleted afterwards.

        Returns:
            (keras_path, saved_model_path) on the chief; (None, None) on other workers.
        """
        self._average_state()
        folder = self.cfg.model_dir if self.chief else tempfile.mkdtemp(prefix="deepnets_final_")
        keras_path = os.path.join(folder, "final.keras")
        saved_model_path = os.path.join(folder, "saved_model")
        os.makedirs(folder, exist_ok=True)
        self.model.save(keras_path)
        if self.cfg.export_saved_model:
            signature = [tf.TensorSpec((None, *self.input_shape), tf.float32, name="images")]
            self.model.export(saved_model_path, input_signature=signature, verbose=False)
        else:
            saved_model_path = None
        self.checkpoints.close()
        if not self.chief:
            shutil.rmtree(folder, ignore_errors=True)
            return None, None
        return keras_path, saved_model_path
