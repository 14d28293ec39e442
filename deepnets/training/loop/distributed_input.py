"""Distributed input whose iterators close at once: `distribute(strategy, dataset_fn)`.

`strategy.distribute_datasets_from_function` with every pipeline it builds without tf.data's
autotuning (`deepnets.data.autotuning` says why: in TensorFlow 2.21 an iterator can wait up to
a minute to close while that thread sleeps). The training loop opens its training and
evaluation iterators through it, so that user input functions get the same.
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
