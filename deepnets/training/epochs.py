"""The training data's position: which epoch's pipeline, how far into it.

Distributed iterators cannot be checkpointed in TF 2.21 (`tf.train.Checkpoint` rejects a
`DistributedIterator`), so the data of epoch `e` comes from a fresh pipeline built by
`train_input_fn(ctx, e)` (seed it from (seed, e)), and a run resumed mid-epoch skips the batches
that epoch had already used. A resumed run therefore sees the same batches as an uninterrupted
one whenever the pipeline is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

TrainInputFn = Callable[[tf.distribute.InputContext, int], tf.data.Dataset]


class EpochInput:
    """Hands out the distributed iterator for any run of steps within an epoch.

    Args:
        strategy: the run's strategy.
        train_input_fn: `(input_context, epoch) -> dataset` of per-replica batches, at least
            `steps_per_epoch` batches per replica long (a repeated dataset is fine).
        steps_per_epoch: optimizer steps per epoch.
    """

    def __init__(
        self, strategy: tf.distribute.Strategy, train_input_fn: TrainInputFn, steps_per_epoch: int
    ) -> None:
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.strategy = strategy
        self.train_input_fn = train_input_fn
        self.steps_per_epoch = int(steps_per_epoch)
        self._iterator: Any = None
        self._next_step: int | None = None

    def iterator(self, epoch: int = 0, skip_steps: int = 0) -> Any:
        """A distributed iterator over epoch `epoch`'s batches, after `skip_steps` steps of it."""
        remaining = self.steps_per_epoch - skip_steps

        def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            # Replicas of one worker share its pipeline, each taking one batch per step.
            batches_per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            dataset = self.train_input_fn(ctx, epoch)
            if skip_steps:
                dataset = dataset.skip(skip_steps * batches_per_step)
            return dataset.take(remaining * batches_per_step)

        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def for_steps(self, step: int, num_steps: int) -> Any:
        """The iterator that yields steps `step + 1 .. step + num_steps` (within one epoch).

        It continues the previous call's iterator when the steps follow on, and opens the
        epoch's pipeline (skipping the steps already done) when they do not.

        Raises:
            ValueError: the steps cross the end of an epoch.
        """
        epoch, done = divmod(step, self.steps_per_epoch)
        if done + num_steps > self.steps_per_epoch:
            raise ValueError(
                f"steps {step + 1}..{step + num_steps} cross the end of epoch {epoch + 1} "
                f"({self.steps_per_epoch} steps per epoch)"
            )
        if self._iterator is None or self._next_step != step or done == 0:
            self._iterator = self.iterator(epoch, done)
        self._next_step = step + num_steps
        return self._iterator
