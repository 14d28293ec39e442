"""deepnets' pipelines and the loop's distributed input run without tf.data's autotuning, whose
thread made TensorFlow's iterators wait up to a minute when they were destroyed."""

import tensorflow as tf

from deepnets.data import open_dataset
from deepnets.data.autotuning import without_autotuning
from deepnets.training.loop import distributed_input
from deepnets.training.loop.distributed_input import distribute


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


def test_the_training_and_evaluation_batches_of_a_source_run_without_autotuning():
    source = open_dataset("shapes10")
    train = source.train_dataset(8, seed=0)
    evaluation = source.eval_dataset(8)
    assert train.options().autotune.enabled is False
    assert evaluation.options().autotune.enabled is False
    images, labels = next(iter(train))
    assert images.shape == (8, 32, 32, 3) and labels.shape == (8,)
