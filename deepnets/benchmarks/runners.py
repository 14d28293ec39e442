"""What is timed: the deepnets loop, Keras `fit`, inference and the input pipeline.

Every training contender trains on the same in-memory data: N random float32 images with random
labels in 100 classes, repeated and batched (a `tf.data` pipeline that costs next to nothing),
so that the figures measure the training step and not the input.

- `library_loop`: the real `deepnets.training.StepRunner` (SGD momentum 0.9, L2 weight decay
  5e-4 added to the kernels' gradients in the step, train metrics), all steps of a call in one
  `tf.function` (`run_steps`).
- `keras_fit`: `model.compile(SGD momentum 0.9 with Keras' own weight_decay=5e-4, sparse
  cross-entropy from logits)` and one `model.fit(epochs=1, steps_per_epoch=steps)` per call;
  the per-call overhead of `fit` (callbacks, data adapter, a fresh iterator) is part of it.
- `inference`: `model(images, training=False)` in a `tf.function`, `steps` batches.
- `input_pipeline`: `deepnets.data.make_train_dataset("shapes10", augment=True)`, iterated.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from deepnets.benchmarks.cases import IMAGE_SHAPE, MODEL_CASES, NUM_CLASSES, ModelCase
from deepnets.benchmarks.timing import Contender, rate
from deepnets.training import L2Decay, StepRunner, StepSettings, resolve_jit_compile

keras = tf.keras

LEARNING_RATE = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def random_examples(num_examples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, 32, 32, 3] standard-normal images and int32 [n] labels in [0, 100)."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((num_examples, *IMAGE_SHAPE), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    return images, labels


def in_memory_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """The examples, repeated forever, in batches of `batch_size` (remainder dropped).

    tf.data autotuning is off (and with it the prefetch it injects). With it on, every short
    `fit` call (each makes a new iterator) ended only at one of the autotuner's wake-up times,
    10 * (2**n - 1) ms after it began: 2.55 s, 5.11 s, 10.23 s, with one CPU idle meanwhile
    (measured here). In-memory batches cost microseconds, so nothing waits for data without it.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat()
    return dataset.batch(batch_size, drop_remainder=True).with_options(options)


def library_loop(
    case: ModelCase,
    examples: tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int,
    mixed_precision: str | None = None,
) -> tuple[Contender, StepRunner]:
    """A contender that runs steps of the deepnets `StepRunner` on `examples`.

    Args:
        case: the model.
        examples: (images, labels) from `random_examples`.
        batch_size: global batch size.
        mixed_precision: the Keras dtype policy the model computes in (None: float32);
            mixed_float16 adds loss scaling, as a training run does.

    Returns:
        (a function `(steps) -> images/s` that runs all the steps in one `tf.function` call,
        the runner: its model, strategy and `jit_compile`).
    """
    endless = 10**9  # one epoch that never ends: every call continues the same iterator
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    images, labels = examples

    def train_input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
        return in_memory_dataset(images, labels, ctx.get_per_replica_batch_size(batch_size))

    def optimizer(variables: list) -> keras.optimizers.Optimizer:
        sgd = keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM)
        if mixed_precision == "mixed_float16":
            return keras.mixed_precision.LossScaleOptimizer(sgd)
        return sgd

    runner = StepRunner(
        strategy,
        case.build_deepnets,
        optimizer,
        train_input_fn,
        StepSettings(
            steps_per_epoch=endless,
            global_batch_size=batch_size,
            num_classes=NUM_CLASSES,
            mixed_precision=mixed_precision,
            jit_compile=resolve_jit_compile("auto", strategy),
        ),
        parts=[L2Decay(WEIGHT_DECAY)],
    )
    iterator = runner.train_iterator()

    def contender(steps: int) -> float:
        return rate(lambda: runner.run_steps(iterator, steps), steps * batch_size)

    return contender, runner


def keras_fit(
    model: keras.Model, examples: tuple[np.ndarray, np.ndarray], *, batch_size: int
) -> Contender:
    """A contender that trains `model` with `compile` + one `fit` call per timed call.

    Args:
        model: a model returning logits (compiled here with Keras' default `jit_compile`;
            Keras adds loss scaling to a mixed_float16 model).
        examples: (images, labels) from `random_examples`.
        batch_size: batch size.

    Returns:
        A function `(steps) -> images/s` that calls `fit(epochs=1, steps_per_epoch=steps)`;
        after its first call `model.jit_compile` says whether Keras compiled with XLA.
    """
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = in_memory_dataset(*examples, batch_size)

    def work(steps: int) -> None:
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        model.optimizer.iterations.numpy()

    return lambda steps: rate(lambda: work(steps), steps * batch_size)


def inference(model: keras.Model, images: np.ndarray) -> Contender:
    """A contender that runs forward passes (training=False) on one batch of `images`.

    Args:
        model: any Keras model.
        images: one batch of images.

    Returns:
        A function `(steps) -> images/s` that runs `steps` forward passes.
    """
    batch = tf.constant(images)
    forward = tf.function(lambda x: model(x, training=False))

    def work(steps: int) -> None:
        for _ in range(steps):
            outputs = forward(batch)
        outputs.numpy()

    return lambda steps: rate(lambda: work(steps), steps * len(images))


def input_pipeline(batch_size: int, seed: int = 0) -> Contender:
    """A contender that reads batches of augmented shapes10 training images.

    Args:
        batch_size: global batch size (one pipeline, one replica).
        seed: pipeline seed.

    Returns:
        A function `(batches) -> images/s`.
    """
    from deepnets import data

    dataset = data.make_train_dataset("shapes10", batch_size, seed=seed, augment=True)
    iterator = iter(dataset)

    def work(batches: int) -> None:
        for _ in range(batches):
            images, _ = next(iterator)
        images.numpy()

    return lambda batches: rate(lambda: work(batches), batches * batch_size)


def all_models_from(names: list[str]) -> list[ModelCase]:
    """The `ModelCase`s named, in order; a ValueError lists the known names otherwise."""
    unknown = [n for n in names if n not in MODEL_CASES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_CASES)}")
    return [MODEL_CASES[n] for n in names]
