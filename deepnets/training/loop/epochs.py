"""The training data's position: which epoch's pipeline, how far into it.

Distributed iterators cannot be checkpointed in TF 2.21 (`tf.train.Checkpoint` rejects a
`DistributedIterator`), so the data of epoch `e` comes from a fresh pipeline built by
`train_input_fn(ctx, e)` (seed it from (seed, e)), and a run resumed mid-epoch skips the batches
that epoch had already used. A resumed run therefore sees the same batches as an uninterrupted
one whenever the pipeline is deterministic for a seed.

One iterator runs through many epochs: the epochs' pipelines are concatenated (each built by
`train_input_fn` with its own epoch number, so the batches are the same), and a run's loops
continue one iterator from epoch to epoch. Dropping a tf.data iterator is not free: in TF 2.21
its destructor can wait many seconds for one of the pipeline's threads to end, so an iterator
opened per epoch stalled each epoch's start (measured on an image folder: 10 s on average,
60 s at worst, in 70-second epochs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from deepnets.training.loop.distributed_input import distribute

TrainInputFn = Callable[[tf.distribute.InputContext, int], tf.data.Dataset]

# The most epochs, and examples, one iterator spans: each epoch adds its pipeline (for an image
# folder, its list of files) to the iterator's graph, so a large dataset gets fewer epochs each.
MAX_EPOCHS_PER_ITERATOR = 50
MAX_EXAMPLES_PER_ITERATOR = 5_000_000


def epochs_begun(steps: int, steps_per_epoch: int) -> int:
    """The epochs begun by the end of step `steps`: a run of `steps` steps has this many
    epochs, the last one possibly partial.

    Args:
        steps: steps done (or a run's length).
        steps_per_epoch: optimizer steps per epoch (at least 1).

    Returns:
        `ceil(steps / steps_per_epoch)`.
    """
    return -(-steps // steps_per_epoch)


class EpochInput:
    """Hands out the distributed iterator for any run of steps.

    Args:
        strategy: the run's strategy.
        train_input_fn: `(input_context, epoch) -> dataset` of per-replica batches, at least
            `steps_per_epoch` batches per replica long (a repeated dataset is fine).
        steps_per_epoch: optimizer steps per epoch.
        total_steps: the step the run ends at: an iterator spans the epochs up to it, at most
            `MAX_EPOCHS_PER_ITERATOR` of them and, with `global_batch_size`, at most
            `MAX_EXAMPLES_PER_ITERATOR` examples' worth (but at least one epoch). None: one
            epoch per iterator.
        global_batch_size: examples per step, for that limit (None: no limit by examples).
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        train_input_fn: TrainInputFn,
        steps_per_epoch: int,
        total_steps: int | None = None,
        global_batch_size: int | None = None,
    ) -> None:
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1 or None, got {total_steps}")
        self.strategy = strategy
        self.train_input_fn = train_input_fn
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.max_epochs = MAX_EPOCHS_PER_ITERATOR
        if global_batch_size:
            examples_per_epoch = self.steps_per_epoch * int(global_batch_size)
            self.max_epochs = min(
                self.max_epochs, max(1, MAX_EXAMPLES_PER_ITERATOR // examples_per_epoch)
            )
        self.iterators_opened = 0
        self._iterator: Any = None
        self._next_step: int | None = None
        self._end_step = 0

    def iterator(self, epoch: int = 0, skip_steps: int = 0, epochs: int = 1) -> Any:
        """A distributed iterator over the batches of `epochs` epochs from `epoch`, after
        `skip_steps` steps of the first."""
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")

        def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            # Replicas of one worker share its pipeline, each taking one batch per step.
            batches_per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            parts = []
            for e in range(epoch, epoch + epochs):
                dataset = self.train_input_fn(ctx, e)
                skip = skip_steps if e == epoch else 0
                if skip:
                    dataset = dataset.skip(skip * batches_per_step)
                parts.append(dataset.take((self.steps_per_epoch - skip) * batches_per_step))
            return functools.reduce(tf.data.Dataset.concatenate, parts)

        self.iterators_opened += 1
        return iter(distribute(self.strategy, dataset_fn))

    def for_steps(self, step: int, num_steps: int) -> Any:
        """The iterator that yields steps `step + 1 .. step + num_steps` (within one epoch).

        It continues the previous call's iterator when the steps follow on, also into the next
        epoch, and opens a new one (from the epoch of `step`, skipping the steps that epoch has
        done) when they do not or the iterator's epochs are used up.

        Raises:
            ValueError: the steps cross the end of an epoch.
        """
        epoch, done = divmod(step, self.steps_per_epoch)
        if done + num_steps > self.steps_per_epoch:
            raise ValueError(
                f"steps {step + 1}..{step + num_steps} cross the end of epoch {epoch + 1} "
                f"({self.steps_per_epoch} steps per epoch)"
            )
        if self._iterator is None or self._next_step != step or step >= self._end_step:
            epochs = 1
            if self.total_steps is not None:
                last_epoch = epochs_begun(self.total_steps, self.steps_per_epoch)
                epochs = min(max(1, last_epoch - epoch), self.max_epochs)
            self._iterator = None  # the old one goes first: one pipeline's memory at a time
            self._iterator = self.iterator(epoch, done, epochs)
            self._end_step = (epoch + epochs) * self.steps_per_epoch
        self._next_step = step + num_steps
        return self._iterator
