"""The loop's distributed input runs its pipelines without tf.data's autotuning, whose thread
made TensorFlow's distributed iterators wait up to a minute when they were destroyed."""

import tensorflow as tf

from deepnets.training.loop import distributed_input
from deepnets.training.loop.distributed_input import distribute, without_autotuning


def _pipeline() -> tf.data.Dataset:
    return tf.data.Dataset.range(8).map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE)


def test_autotuning_is_turned_off_where_the_dataset_leaves_it_unset():
    assert _pipeline().options().autotune.enabled is None
    assert without_autotuning(_pipeline()).options().autotune.enabled is False
    own = tf.data.Options()
    own.autotune.enabled = True  # the dataset's own choice stays
    assert without_autotuning(_pipeline().with_options(own)).options().autotune.enabled is True
    assert list(without_autotuning(_pipeline()).as_numpy_iterator()) == list(range(0, 16, 2))


def test_each_replicas_pipeline_is_built_without_autotuning(monkeypatch):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    built = []
    original = distributed_input.without_autotuning
    monkeypatch.setattr(
        distributed_input, "without_autotuning", lambda ds: built.append(original(ds)) or built[-1]
    )
    dataset = distribute(strategy, lambda ctx: _pipeline().batch(4))
    assert [b.numpy().tolist() for b in dataset] == [[0, 2, 4, 6], [8, 10, 12, 14]]
    assert built and all(b.options().autotune.enabled is False for b in built)
