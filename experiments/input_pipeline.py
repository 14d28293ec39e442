"""Image-folder input pipeline against the training it feeds: is the input ever the bottleneck?

    DATA=$(mktemp -d) && tar -xzf ../shared/data/cifar10-train-jpeg.tar.gz -C "$DATA"
    python -m experiments.input_pipeline --folder="$DATA"

It measures, in one process:
- the decode pass that reads the folder (`open_dataset`: every file decoded once);
- the training pipeline (`DatasetSource.train_dataset`, augmentation on, `cache=True`), built
  anew for every epoch as the training loop does: epoch 1 decodes the files (and fills the cache),
  epoch 2 reads the cache; images/s of each whole epoch, iterated from Python;
- the training rate of the narrow ResNet-18 (`resnet18`, stem=cifar, width=16) with
  `deepnets.training.StepRunner.run_steps` on in-memory random data of the folder's input shape
  (the median of several timed calls after a warm-up);
and prints the ratios pipeline / training. The two are measured one after the other, each with
all CPUs to itself; during training they share them.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import TYPE_CHECKING

from absl import flags

from trainers.cli import cli_errors, fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

if TYPE_CHECKING:
    from deepnets.data import DatasetSource

PROGRAM = "input-pipeline-benchmark"
REQUIRED_RATIO = 10.0
MODEL = "resnet18"
MODEL_OVERRIDES = {"stem": "cifar", "width": 16}

flags.DEFINE_string("folder", None, "Image folder: PATH/<class>/<image> or PATH/train/<class>/...")
flags.DEFINE_integer("batch_size", 128, "Global batch size of the pipeline and of training.")
flags.DEFINE_float("validation_split", 0.1, "Fraction of each class held out (not read here).")
flags.DEFINE_integer("image_size", None, "Model input side (default: the folder's own size).")
flags.DEFINE_integer("train_steps", 10, "Training steps per timed call.")
flags.DEFINE_integer("repetitions", 3, "Timed training calls (the median is reported).")
FLAGS = flags.FLAGS


def epoch_rate(source: DatasetSource, epoch: int, steps: int) -> tuple[float, float]:
    """(images/s, seconds) of one epoch of a new training pipeline, as the loop builds it.

    Args:
        source: the image folder, opened once (its pipelines share its cache).
        epoch: the epoch index (the shuffling seed).
        steps: batches in the epoch.

    Returns:
        The rate and the time of reading `steps` batches.
    """
    started = time.perf_counter()
    dataset = source.train_dataset(FLAGS.batch_size, seed=epoch, cache=True)
    iterator = iter(dataset)
    for _ in range(steps):
        images, _ = next(iterator)
    images.numpy()  # the last batch is ready
    seconds = time.perf_counter() - started
    return steps * FLAGS.batch_size / seconds, seconds


def training_rate(input_shape: tuple[int, int, int], num_classes: int) -> float:
    """Median images/s of `StepRunner.run_steps` training the narrow ResNet-18 on in-memory data.

    Args:
        input_shape: the model input (the folder's preprocessed image shape).
        num_classes: classes of the classifier.

    Returns:
        The median rate over `--repetitions` calls of `--train_steps` steps, after a warm-up.
    """
    import numpy as np
    import tensorflow as tf

    import deepnets
    from deepnets.benchmarks.runners import LEARNING_RATE, MOMENTUM, WEIGHT_DECAY, in_memory_dataset
    from deepnets.benchmarks.timing import rate
    from deepnets.training import L2Decay, StepRunner, StepSettings, resolve_jit_compile

    rng = np.random.default_rng(0)
    images = rng.standard_normal((4 * FLAGS.batch_size, *input_shape), dtype=np.float32)
    labels = rng.integers(0, num_classes, len(images)).astype(np.int32)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    runner = StepRunner(
        strategy,
        lambda: deepnets.build_model(
            MODEL,
            num_classes=num_classes,
            input_shape=input_shape,
            classifier_activation=None,
            **MODEL_OVERRIDES,
        ),
        lambda variables: tf.keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
        lambda ctx, epoch: in_memory_dataset(images, labels, FLAGS.batch_size),
        StepSettings(
            steps_per_epoch=10**9,
            global_batch_size=FLAGS.batch_size,
            num_classes=num_classes,
            jit_compile=resolve_jit_compile("auto", strategy),
        ),
        parts=[L2Decay(WEIGHT_DECAY)],
    )
    iterator = runner.train_iterator()
    runner.run_steps(iterator, 2)  # trace and warm up
    amount = FLAGS.train_steps * FLAGS.batch_size
    samples = [
        rate(lambda: runner.run_steps(iterator, FLAGS.train_steps), amount)
        for _ in range(FLAGS.repetitions)
    ]
    return statistics.median(samples)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.folder:
        fail(PROGRAM, "--folder: give the image folder to read, e.g. --folder=/data/cifar10")
    for name in ("batch_size", "train_steps", "repetitions"):
        if FLAGS[name].value < 1:
            fail(PROGRAM, f"--{name} must be a positive integer, got {FLAGS[name].value}")
    if not os.path.isdir(FLAGS.folder):  # before TensorFlow's import, which takes seconds
        fail(
            PROGRAM,
            f"--folder={FLAGS.folder!r}: no such directory; give an image folder, "
            "PATH/<class>/<image> or PATH/train/<class>/<image>",
        )
    from deepnets import data  # imports TensorFlow: after the flag checks

    folder = FLAGS.folder
    with cli_errors(PROGRAM, "--folder"):
        if not data.is_image_folder(folder):
            folder = os.path.join(".", folder)
        started = time.perf_counter()
        source = data.open_dataset(
            folder, image_size=FLAGS.image_size, validation_split=FLAGS.validation_split
        )
        facts = source.facts
        describe_seconds = time.perf_counter() - started
    steps = facts.train_examples // FLAGS.batch_size
    if steps < 1:
        fail(PROGRAM, f"--batch_size={FLAGS.batch_size} exceeds the {facts.train_examples} images")
    files = facts.train_examples + facts.eval_examples + facts.num_skipped_files
    uncached, uncached_seconds = epoch_rate(source, 0, steps)
    cached, cached_seconds = epoch_rate(source, 1, steps)
    training = training_rate(facts.input_shape, facts.num_classes)

    height, width, _ = facts.input_shape
    augmentation = facts.preprocessing.train_augmentation
    overrides = ", ".join(f"{k}={v}" for k, v in MODEL_OVERRIDES.items())
    print(f"Image folder {facts.folder}: {facts.train_examples} training images in ", end="")
    print(f"{facts.num_classes} classes, {height}x{width} model input, batch {FLAGS.batch_size}")
    print(f"  decode pass over {files} files (open_dataset): {describe_seconds:.1f} s")
    print(f"  train pipeline ({augmentation}), epoch 1, decoding: {uncached:.0f} images/s", end="")
    print(f" ({steps} batches in {uncached_seconds:.1f} s)")
    print(f"  train pipeline ({augmentation}), epoch 2, cached: {cached:.0f} images/s", end="")
    print(f" ({steps} batches in {cached_seconds:.1f} s)")
    print(f"{MODEL} ({overrides}) training, StepRunner.run_steps: {training:.0f} images/s")
    print(f"ratio pipeline / training: epoch 1 {uncached / training:.1f}x, ", end="")
    print(f"cached {cached / training:.1f}x (required: >= {REQUIRED_RATIO:.0f}x)", flush=True)


def run() -> None:
    """Entry point: `python -m experiments.input_pipeline --folder=PATH`."""
    quiet_tensorflow_logs(PROGRAM)
    skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
