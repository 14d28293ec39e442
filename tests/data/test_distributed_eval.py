"""Exact evaluation under a 2-replica MirroredStrategy (two logical CPUs, in a subprocess).

Logical devices must be configured before TensorFlow runs any op, which other tests in this
process already did, so the check runs in a fresh interpreter.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

_SCRIPT = """
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from deepnets.data import make_eval_dataset

GLOBAL_BATCH = 96  # 2000 test examples: 20 full global batches and 80 left over
projection = tf.constant(np.random.default_rng(0).normal(size=(32 * 32 * 3, 10)), tf.float32)

def predict(images):
    scores = tf.reshape(images, (-1, 32 * 32 * 3)) @ projection
    return tf.argmax(scores, axis=1, output_type=tf.int32)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
def eval_input_fn(ctx):
    return make_eval_dataset("shapes10", GLOBAL_BATCH, input_context=ctx, pad_to_full_batches=True)

dataset = strategy.distribute_datasets_from_function(eval_input_fn)

@tf.function
def eval_step(batch):
    def replica_fn(images, labels, weights):
        correct = tf.cast(predict(images) == labels, tf.float32)
        return tf.reduce_sum(weights), tf.reduce_sum(weights * correct)
    per_replica = strategy.run(replica_fn, args=batch)
    return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica]

total_weight, total_correct, checksums, batch_shapes, steps = 0.0, 0.0, [], set(), 0
for batch in dataset:
    steps += 1
    weight, correct = eval_step(batch)
    total_weight += float(weight)
    total_correct += float(correct)
    images, labels, weights = (strategy.experimental_local_results(t) for t in batch)
    for replica_images, replica_weights in zip(images, weights):
        batch_shapes.add(tuple(replica_images.shape))
        real = replica_images.numpy()[replica_weights.numpy() == 1.0]
        checksums.extend(real.reshape(len(real), -1).sum(axis=1).tolist())

reference_checksums, reference_correct = [], 0
for images, labels in make_eval_dataset("shapes10", 500):
    reference_checksums.extend(tf.reshape(images, (len(images), -1)).numpy().sum(axis=1).tolist())
    reference_correct += int(tf.reduce_sum(tf.cast(predict(images) == labels, tf.int32)))

print(json.dumps({
    "num_replicas": strategy.num_replicas_in_sync,
    "steps": steps,
    "total_weight": total_weight,
    "total_correct": total_correct,
    "reference_correct": reference_correct,
    "batch_shapes": sorted(batch_shapes),
    "checksums": sorted(checksums),
    "reference_checksums": sorted(reference_checksums),
}))
"""


def test_padded_eval_on_two_replicas_counts_every_example_exactly_once():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=_REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    assert result["num_replicas"] == 2
    assert result["steps"] == 21  # ceil(2000 / 96): the padded last step is full too
    assert result["batch_shapes"] == [[48, 32, 32, 3]]
    assert result["total_weight"] == 2000.0
    assert len(result["checksums"]) == 2000
    np.testing.assert_allclose(result["checksums"], result["reference_checksums"], rtol=1e-6)
    assert result["total_correct"] == result["reference_correct"]
