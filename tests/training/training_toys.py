"""Tiny models and in-memory datasets for the training-loop tests (no files, no network).

The images are 8x8x3; each class is a fixed random pattern plus noise, so a tiny conv net can
learn it within a few dozen steps.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from deepnets.training import StepRunner, StepSettings, TrainConfig, epoch_seed, make_optimizer

keras = tf.keras

IMAGE_SHAPE = (8, 8, 3)
NUM_CLASSES = 4


def toy_arrays(num_examples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (float32, [n, 8, 8, 3]) and int32 labels of a learnable 4-class problem."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234).normal(size=(NUM_CLASSES, *IMAGE_SHAPE))
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    noise = rng.normal(scale=1.0, size=(num_examples, *IMAGE_SHAPE))
    return (patterns[labels] + noise).astype(np.float32), labels


def toy_model(batch_norm: bool = True, seed: int | None = 0) -> keras.Model:
    """Conv(8) -> [BN] -> ReLU -> global average pool -> Dense(4) logits, built for 8x8x3.

    With `seed=None` the initial weights come from Keras' global seed (set by the Trainer).
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    layers = [keras.Input(IMAGE_SHAPE), keras.layers.Conv2D(8, 3, kernel_initializer=init)]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers += [
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(NUM_CLASSES, kernel_initializer=keras.initializers.GlorotUniform(seed)),
    ]
    return keras.Sequential(layers)


def make_train_input_fn(
    global_batch_size: int,
    num_examples: int = 256,
    seed: int | None = 0,
    shuffle: bool = True,
    delay_seconds: float = 0.0,
):
    """A `(input_context, epoch) -> dataset` function like `deepnets.data` provides.

    Each input pipeline reads its shard, shuffles with a seed derived from (seed, epoch),
    repeats and batches per replica with `drop_remainder`. `delay_seconds` slows every batch
    down (to give signal tests a window while a run is in progress).
    """
    images, labels = toy_arrays(num_examples)

    def input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        if shuffle:
            ds = ds.shuffle(num_examples, seed=epoch_seed(seed, epoch))
        ds = ds.repeat().batch(
            ctx.get_per_replica_batch_size(global_batch_size), drop_remainder=True
        )
        if delay_seconds:
            ds = ds.map(lambda x, y: (_slow_identity(x, delay_seconds), y))
        return ds

    return input_fn


def _slow_identity(x: tf.Tensor, seconds: float) -> tf.Tensor:
    import time

    def sleep() -> np.float32:
        time.sleep(seconds)
        return np.float32(0)

    pause = tf.numpy_function(sleep, [], tf.float32)
    with tf.control_dependencies([pause]):
        return tf.identity(x)


def make_eval_input_fn(global_batch_size: int, num_examples: int = 100, seed: int = 7):
    """An `input_context -> dataset` of (image, label, weight) with weight-0 padding.

    The examples are padded to a multiple of the global batch size, so every replica gets the
    same number of full batches; padding has weight 0 and does not count.
    """
    images, labels = toy_arrays(num_examples, seed=seed)
    padded = -(-num_examples // global_batch_size) * global_batch_size
    pad = padded - num_examples
    images = np.concatenate([images, np.zeros((pad, *IMAGE_SHAPE), np.float32)])
    labels = np.concatenate([labels, np.zeros(pad, np.int32)])
    weights = np.concatenate([np.ones(num_examples, np.float32), np.zeros(pad, np.float32)])

    def input_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = ctx.get_per_replica_batch_size(global_batch_size)
        ds = tf.data.Dataset.from_tensor_slices((images, labels, weights))
        # Contiguous blocks of one global batch, split into per-replica batches in order.
        ds = ds.batch(per_replica)
        return ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)

    return input_fn


def toy_runner(
    strategy: tf.distribute.Strategy | None = None,
    *,
    global_batch_size: int = 32,
    num_examples: int = 256,
    model_fn=None,
    with_eval: bool = True,
    seed: int | None = 0,
    delay_seconds: float = 0.0,
    shuffle: bool = True,
    optimizer: TrainConfig | None = None,
    learning_rate=0.05,
    parts=(),
    **settings,
) -> StepRunner:
    """A `StepRunner` of the toy model on the toy data (no config, no dataset name).

    `optimizer` is a `TrainConfig` whose optimizer fields are used (default: SGD, momentum 0.9);
    `settings` are more `StepSettings` fields (e.g. `total_steps`, `jit_compile`).
    """
    cfg = optimizer or TrainConfig()
    return StepRunner(
        strategy or tf.distribute.OneDeviceStrategy("/cpu:0"),
        model_fn or toy_model,
        lambda variables: make_optimizer(cfg, learning_rate, variables),
        make_train_input_fn(
            global_batch_size,
            num_examples=num_examples,
            seed=seed,
            shuffle=shuffle,
            delay_seconds=delay_seconds,
        ),
        StepSettings(
            steps_per_epoch=num_examples // global_batch_size,
            global_batch_size=global_batch_size,
            num_classes=NUM_CLASSES,
            mixed_precision=cfg.mixed_precision,
            **settings,
        ),
        eval_input_fn=make_eval_input_fn(global_batch_size) if with_eval else None,
        parts=parts,
    )
