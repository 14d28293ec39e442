"""Training and evaluation input pipelines, ready for `tf.distribute`.

A `DatasetSource` builds both (`train_dataset`, `eval_dataset`) from its examples with the
transforms of this module. Both take the GLOBAL batch size and, under a strategy, the
`tf.distribute.InputContext` that `strategy.distribute_datasets_from_function` passes in:

    source = open_dataset("shapes10")
    train_ds = strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(256, input_context=ctx, seed=0)
    )

Each call builds the dataset of one input pipeline: its shard of the split (when there is more
than one pipeline, i.e. one per worker) in batches of the per-replica size
`global_batch_size // num_replicas_in_sync`; the strategy hands consecutive batches to the
replicas of that pipeline.

`train_dataset`: load -> shard -> cache (decoded uint8, before augmentation; kept across the
per-epoch pipelines of a source, see `deepnets.data.shards`) -> shuffle -> repeat forever ->
augment + normalize -> batch (drop remainder) -> prefetch, without tf.data's autotuning
(`deepnets.data.autotuning`: its thread made iterators wait up to a minute to close). Yields
`(image float32 [b, S, S, 3], label int32 [b])`. Image folders decode their files in parallel
(see `deepnets.data.folders`).

`eval_dataset`: load -> shard -> resize/crop + normalize -> batch -> prefetch, one pass,
every example once. By default the last batch is partial. With `pad_to_full_batches=True` it
yields `(image, label, weight)`: the split is padded with weight-0 examples so that every batch is
full and every replica and worker runs the same number of steps; summing `weight * correct`
over all replicas then gives exact top-k accuracy over the whole split.

Preprocessing (`deepnets.data.Preprocessing`, recorded in every run folder): evaluation takes
the whole image of small fixed-size datasets (CIFAR-like, at most 64x64) and the central 87.5%
square of larger ones, resizes to `image_size` when the size differs, and normalizes with the
dataset's per-channel mean and std, so the output is about zero-mean, unit-std. Training
augments in front of the same resize and normalization: small images are padded by 4 pixels
(reflect), randomly cropped back to their size and randomly flipped; larger or variable-size
images get an Inception-style random resized crop (8-100% of the area, aspect 3/4..4/3) and a
flip. `preprocessing_for` derives the record from a dataset's metadata.

Determinism: with a `seed`, shuffling and augmentation are reproducible: two pipelines built
with the same seed yield identical batches (augmentation uses stateless random ops seeded by
`(seed, example counter)`). With `seed=None` a random seed is drawn.
"""

from __future__ import annotations

import math

import tensorflow as tf

from deepnets.data.augment import Augmentation, alternating_flip, augment_image
from deepnets.data.autotuning import without_autotuning
from deepnets.data.preprocessing import Preprocessing
from deepnets.data.shards import pipeline_position, shard


def uses_example_ids(augment: bool, augmentation: Augmentation) -> bool:
    """Whether training needs each example's fixed id: alternating flips are fixed by it."""
    return augment and augmentation.flip == "alternate"


def train_batches(
    examples: tf.data.Dataset,
    batch_size: int,
    *,
    preprocessing: Preprocessing,
    num_classes: int,
    input_context: tf.distribute.InputContext | None,
    seed: int,
    augment: bool,
    augmentation: Augmentation,
    epoch: int,
    flip_seed: int,
) -> tf.data.Dataset:
    """Augmented, normalized batches of shuffled examples (`DatasetSource.train_dataset`).

    Args:
        examples: this pipeline's shuffled examples, `(image, label)`, or, for alternating
            flips, `(example id, (image, label))`.
        batch_size: the per-replica batch size.
        preprocessing, num_classes, input_context, seed, augment, augmentation, epoch,
            flip_seed: as for `DatasetSource.train_dataset`.

    Returns:
        The batches, prefetched.
    """
    alternate = uses_example_ids(augment, augmentation)
    pipeline_id, num_pipelines = pipeline_position(input_context)
    extra = augmentation.image_transform(seed + pipeline_id) if augment else None
    mix = augmentation.batch_transform(num_classes, seed + pipeline_id) if augment else None

    # The map functions of deepnets' pipelines are traced without AutoGraph: they have no Python
    # control flow on tensors, and converting them took 0.5-1 s at every start of a process.
    @tf.autograph.experimental.do_not_convert
    def preprocess(index: tf.Tensor, example: tuple):
        # (image, label), or (example id, (image, label)) for alternating flips
        example_id, (image, label) = example if alternate else (None, example)
        if augment:
            # A different stateless seed per example, and per pipeline, independent of timing.
            example_seed = tf.stack(
                [tf.constant(seed, tf.int64), index * num_pipelines + pipeline_id]
            )
            flip = None
            if alternate:  # fixed by the example, not by its place in the epoch
                flip = alternating_flip(
                    tf.stack(
                        [tf.constant(flip_seed, tf.int64), example_id * num_pipelines + pipeline_id]
                    ),
                    epoch,
                )
            image = augment_image(
                image,
                example_seed,
                preprocessing,
                crop_padding=augmentation.crop_padding,
                flip=flip,
            )
            if extra is not None:
                image = extra(image)
        else:
            image = preprocessing.view(image)
        return preprocessing.normalize(image), tf.cast(label, tf.int32)

    dataset = examples.enumerate().map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if mix is not None:
        dataset = dataset.map(
            tf.autograph.experimental.do_not_convert(mix), num_parallel_calls=tf.data.AUTOTUNE
        )
    return without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def eval_batches(
    examples: tf.data.Dataset,
    batch_size: int,
    *,
    num_examples: int,
    preprocessing: Preprocessing,
    input_context: tf.distribute.InputContext | None,
    pad_to_full_batches: bool,
) -> tf.data.Dataset:
    """One pass of preprocessed batches of a split (`DatasetSource.eval_dataset`).

    Args:
        examples: the split's `(image, label)` pairs, in a fixed order, all pipelines' shards.
        batch_size: the per-replica batch size.
        num_examples: the split's size.
        preprocessing, input_context, pad_to_full_batches: as for `DatasetSource.eval_dataset`.

    Returns:
        The batches, prefetched.
    """
    dataset = shard(examples, input_context)

    @tf.autograph.experimental.do_not_convert  # as in `train_batches`
    def preprocess(image: tf.Tensor, label: tf.Tensor):
        return preprocessing(image), tf.cast(label, tf.int32)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if not pad_to_full_batches:
        return without_autotuning(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))

    pipeline_id, num_pipelines = pipeline_position(input_context)
    num_replicas = input_context.num_replicas_in_sync if input_context else 1
    pipeline_batch_size = batch_size * max(1, num_replicas // num_pipelines)
    # Every pipeline pads to the size of the largest shard, rounded up to whole pipeline steps,
    # so that all workers run the same number of steps.
    largest_shard = math.ceil(num_examples / num_pipelines)
    padded_size = math.ceil(largest_shard / pipeline_batch_size) * pipeline_batch_size
    padding = tf.data.Dataset.from_tensors(
        (
            tf.zeros(preprocessing.input_shape, tf.float32),
            tf.constant(0, tf.int32),
            tf.constant(0.0, tf.float32),
        )
    ).repeat()
    dataset = dataset.map(
        tf.autograph.experimental.do_not_convert(
            lambda image, label: (image, label, tf.constant(1.0, tf.float32))
        )
    )
    dataset = dataset.concatenate(padding).take(padded_size)
    batches = dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return without_autotuning(batches)


def per_replica_batch_size(
    global_batch_size: int, input_context: tf.distribute.InputContext | None
) -> int:
    """global_batch_size // replicas, checking that it divides evenly.

    Raises:
        ValueError: `global_batch_size` is not positive or not divisible by the replica count.
    """
    num_replicas = input_context.num_replicas_in_sync if input_context else 1
    if global_batch_size < 1:
        raise ValueError(f"global_batch_size must be positive, got {global_batch_size}")
    if global_batch_size % num_replicas:
        raise ValueError(
            f"global_batch_size={global_batch_size} is not divisible by the number of replicas "
            f"in sync ({num_replicas}); use a multiple of {num_replicas}"
        )
    return global_batch_size // num_replicas
