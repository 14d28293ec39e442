"""Distributed input whose iterators close at once: `distribute(strategy, dataset_fn)`.

`strategy.distribute_datasets_from_function` with every pipeline it builds without tf.data's
autotuning (`deepnets.data.autotuning`): in TensorFlow 2.21 a distributed iterator waits, when
it is destroyed, for the sleep of its pipeline's autotuning thread (up to 60 s) with Python's
GIL held, which froze a process for 42 s after a pipeline of 100 s; without autotuning, 0.2 s.
The training loop opens its training and evaluation iterators through it, so that user input
functions get the same.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from deepnets.data.autotuning import without_autotuning

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def distribute(
    strategy: tf.distribute.Strategy, dataset_fn: DatasetFn
) -> tf.distribute.DistributedDataset:
    """`strategy.distribute_datasets_from_function(dataset_fn)`, each pipeline without
    autotuning unless it sets it itself."""
    return strategy.distribute_datasets_from_function(
        lambda ctx: without_autotuning(dataset_fn(ctx))
    )
