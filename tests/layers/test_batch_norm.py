"""The fused BatchNormalization computes what Keras' does: outputs, gradients, statistics."""

import numpy as np
import pytest
import tensorflow as tf

from deepnets.layers import BatchNormalization

keras = tf.keras
TOLERANCE = 1e-5


def pair(axis=-1, **options):
    """A fused layer and Keras' own, with the same (non-trivial) weights."""
    ours = BatchNormalization(axis=axis, momentum=0.9, **options)
    theirs = keras.layers.BatchNormalization(axis=axis, momentum=0.9, **options)
    return ours, theirs


def initialize(ours, theirs, shape):
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)


@pytest.mark.parametrize("axis, shape", [(-1, (6, 5, 7, 4)), (1, (6, 4, 5, 7))])
def test_training_step_matches_keras(axis, shape):
    ours, theirs = pair(axis=axis, epsilon=1e-3)
    initialize(ours, theirs, shape)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, shape).astype("float32"))
    upstream = tf.constant(np.random.default_rng(2).normal(size=shape).astype("float32"))
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append((y, grads, layer.moving_mean.numpy(), layer.moving_variance.numpy()))
    (y1, g1, mean1, var1), (y2, g2, mean2, var2) = results
    np.testing.assert_allclose(y1, y2, atol=TOLERANCE)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, atol=TOLERANCE * 10, rtol=TOLERANCE)
    np.testing.assert_allclose(mean1, mean2, atol=TOLERANCE)
    np.testing.assert_allclose(var1, var2, atol=TOLERANCE)
    assert not np.allclose(mean1, ours.get_weights()[2] * 0 + 1)  # the statistics did move


def test_inference_matches_keras_and_uses_the_moving_statistics():
    ours, theirs = pair(epsilon=1.001e-5)
    initialize(ours, theirs, (None, 3, 3, 5))
    x = np.random.default_rng(3).normal(size=(4, 3, 3, 5)).astype("float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=TOLERANCE)
    frozen = BatchNormalization(epsilon=1.001e-5)
    frozen.build((None, 3, 3, 5))
    frozen.set_weights(ours.get_weights())
    frozen.trainable = False  # a frozen layer normalizes with its statistics, even in training
    np.testing.assert_allclose(frozen(x, training=True), theirs(x, training=False), atol=TOLERANCE)


def test_mixed_float16_inputs_keep_float32_statistics():
    ours = BatchNormalization(dtype="mixed_float16")
    theirs = keras.layers.BatchNormalization(dtype="mixed_float16")
    x = np.random.default_rng(4).normal(size=(8, 4, 4, 3)).astype("float32")
    y1, y2 = ours(x, training=True), theirs(x, training=True)
    assert y1.dtype == tf.float16 and ours.moving_mean.dtype == "float32"
    np.testing.assert_allclose(np.float32(y1), np.float32(y2), atol=5e-3)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, atol=1e-4)


def test_other_ranks_take_keras_path_and_config_round_trips(tmp_path):
    ours, theirs = pair()
    x = np.random.default_rng(5).normal(size=(8, 3)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=TOLERANCE)
    clone = BatchNormalization.from_config(ours.get_config())
    assert type(clone) is BatchNormalization
    assert clone.get_config() == ours.get_config()
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, BatchNormalization()(inputs))
    model.save(tmp_path / "bn.keras")
    assert type(keras.models.load_model(tmp_path / "bn.keras").layers[1]) is BatchNormalization


def op_types(layer, x):
    """The op types of the layer's training call, traced."""
    graph = tf.function(lambda t: layer(t, training=True)).get_concrete_function(x).graph
    return {op.type for op in graph.get_operations()}


def test_the_class_switch_sends_every_layer_down_keras_path(monkeypatch):
    ours, theirs = pair()
    initialize(ours, theirs, (6, 5, 5, 4))
    x = tf.constant(np.random.default_rng(6).normal(size=(6, 5, 5, 4)).astype("float32"))
    assert "FusedBatchNormV3" in op_types(ours, x)
    monkeypatch.setattr(BatchNormalization, "use_fused_kernel", False)
    assert "FusedBatchNormV3" not in op_types(ours, x)
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=TOLERANCE)


def test_two_replicas_average_like_one(tmp_path):
    """Under MirroredStrategy with 2 replicas the runner averages the replicas' statistics; the
    fused layer's updates are per replica like Keras' (checked in a fresh process: 2 CPUs)."""
    import subprocess
    import sys

    script = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from deepnets.layers import BatchNormalization
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.random.default_rng(0).normal(1.0, 2.0, (8, 4, 4, 3)).astype("float32")
out = []
for cls in (BatchNormalization, tf.keras.layers.BatchNormalization):
    with strategy.scope():
        layer = cls(momentum=0.5)
        layer.build((None, 4, 4, 3))
    dataset = tf.data.Dataset.from_tensors(x).unbatch().batch(8)
    data = strategy.experimental_distribute_dataset(dataset)
    batch = next(iter(data))
    y = strategy.run(lambda b: layer(b, training=True), args=(batch,))
    copies = [np.asarray(v) for v in layer.moving_mean.value.values]
    out.append((np.concatenate([np.asarray(t) for t in y.values]), copies))
(y1, m1), (y2, m2) = out
print(float(np.abs(y1 - y2).max()), float(max(np.abs(a - b).max() for a, b in zip(m1, m2))))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output_diff, statistics_diff = map(float, result.stdout.split()[-2:])
    assert output_diff < TOLERANCE and statistics_diff < TOLERANCE
