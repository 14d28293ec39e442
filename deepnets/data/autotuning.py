"""Pipelines without tf.data's autotuning, so that their iterators close at once.

In TensorFlow 2.21 a tf.data iterator waits, when it is destroyed, for the sleep of its
pipeline's autotuning thread to end, and holds Python's GIL while it waits. That thread sleeps
between its optimizations for a period that doubles from 10 ms to 60 s while the pipeline runs,
so dropping the iterator of a pipeline that ran for a minute or more froze the whole process for
up to a minute (seen for distributed iterators every time, for plain ones sometimes):

- a `OneDeviceStrategy` iterator over a small `map`/`shuffle`/`batch`/`prefetch` pipeline,
  deleted after 100 s: 42 s; 0.2 s with autotuning off;
- in the test suite, a test that followed a training run in the same process stood still for
  17-171 s whenever Python's garbage collector freed that run's iterator (the stack: the main
  thread in the iterator's destructor, waiting for a thread of the pipeline's pool): 670 s in
  all over one `pytest` run with only the loop's pipelines without autotuning, 240 s once these
  were too.

So the pipelines deepnets builds (`deepnets.data`'s training and evaluation batches, the
folder scan, and every pipeline the training loop distributes) run with autotuning off, unless
a dataset sets it itself: `num_parallel_calls=AUTOTUNE` then runs as many calls at once as the
CPU has cores and `prefetch(AUTOTUNE)` sizes its buffer by itself, as TensorFlow did before its
autotuning model. The cached, augmented CIFAR-100 training pipeline ran at 14,100-16,300
images/s without it and 13,400-13,900 with it (docs/performance.md), both far above what a CPU
trains on.
"""

from __future__ import annotations

import tensorflow as tf


def without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuning off, where its options leave it unset."""
    if dataset.options().autotune.enabled is not None:
        return dataset  # the dataset's own choice
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
