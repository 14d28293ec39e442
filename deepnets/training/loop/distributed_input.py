"""Distributed input whose iterators close at once: `distribute(strategy, dataset_fn)`.

TensorFlow 2.21's distributed iterators (of `strategy.distribute_datasets_from_function`, on one
device as on several) wait, when they are destroyed, for the sleep of their pipeline's
autotuning thread to end, and hold Python's GIL while they wait. That thread sleeps between
its optimizations for a period that doubles from 10 ms to 60 s while the pipeline runs, so the
iterator of a pipeline that ran for a minute or more froze the whole process for up to a
minute when it went (a plain `iter(dataset)` does not wait):

- a `OneDeviceStrategy` iterator over a small `map`/`shuffle`/`batch`/`prefetch` pipeline,
  deleted after 100 s: 42 s (0.2 s with autotuning off, 0.2 s for a plain iterator);
- in the test suite, tests that follow a training run in the same process stood still for
  17-171 s whenever Python's garbage collector happened to free that run's iterator, about
  8 minutes in all over one `pytest` run.

So the loop's pipelines run with tf.data's autotuning off (`Options.autotune.enabled = False`)
unless the dataset sets it itself: `num_parallel_calls=AUTOTUNE` then runs as many calls at
once as the CPU has cores, and `prefetch(AUTOTUNE)` sizes its buffer by itself, as TensorFlow
did before its autotuning model. docs/performance.md has the pipeline's rate both ways.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuning off, where its options leave it unset."""
    if dataset.options().autotune.enabled is not None:
        return dataset  # the dataset's own choice
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def distribute(
    strategy: tf.distribute.Strategy, dataset_fn: DatasetFn
) -> tf.distribute.DistributedDataset:
    """`strategy.distribute_datasets_from_function(dataset_fn)`, each replica's pipeline
    without autotuning (`without_autotuning`), so that its iterators close at once."""
    return strategy.distribute_datasets_from_function(
        lambda ctx: without_autotuning(dataset_fn(ctx))
    )
