"""Training and evaluation input pipelines, ready for `tf.distribute`.

Both builders take the dataset name, the GLOBAL batch size and, under a strategy, the
`tf.distribute.InputContext` that `strategy.distribute_datasets_from_function` passes in:

    def train_input_fn(ctx):
        return make_train_dataset("shapes10", global_batch_size=256, input_context=ctx, seed=0)

    train_ds = strategy.distribute_datasets_from_function(train_input_fn)

Each call builds the dataset of one input pipeline: its shard of the split (when there is more
than one pipeline, i.e. one per worker) in batches of the per-replica size
`global_batch_size // num_replicas_in_sync`; the strategy hands consecutive batches to the
replicas of that pipeline.

`make_train_dataset`: load -> shard -> cache (decoded uint8, before augmentation; kept across
the per-epoch pipelines, see `deepnets.data.sources`) -> shuffle -> repeat forever -> augment +
normalize -> batch (drop remainder) -> prefetch. Yields `(image float32 [b, S, S, 3], label
int32 [b])`. Image folders decode their files in parallel (see `deepnets.data.folders`).

`make_eval_dataset`: load -> shard -> resize/crop + normalize -> batch -> prefetch, one pass,
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
flip. `preprocessing_for(info, image_size)` derives the record from a dataset's metadata.

Determinism: with a `seed`, shuffling and augmentation are reproducible: two pipelines built
with the same seed yield identical batches (augmentation uses stateless random ops seeded by
`(seed, example counter)`). With `seed=None` a random seed is drawn.
"""

from __future__ import annotations

import math
import random

import tensorflow as tf

from deepnets.data.augment import Augmentation, alternating_flip, augment_image
from deepnets.data.datasets import DEFAULT_VALIDATION_SPLIT, DatasetInfo, load_split
from deepnets.data.preprocessing import Preprocessing
from deepnets.data.sources import pipeline_position, shard, shuffled_examples

# Training resolution of variable-size datasets (imagenette, imagenet2012) when none is given.
DEFAULT_LARGE_IMAGE_SIZE = 224
# Images up to this size get CIFAR-style pad-and-crop; larger ones a random resized crop.
_SMALL_IMAGE_MAX_SIZE = 64


def preprocessing_for(info: DatasetInfo, image_size: int | None = None) -> Preprocessing:
    """The preprocessing this package uses for a dataset.

    Args:
        info: the dataset's metadata (its image shape, mean and std).
        image_size: side of the square model input; None keeps the dataset's own size (224 for
            datasets whose images vary in size).

    Returns:
        A `Preprocessing`: the whole image and pad-crop-flip training for small fixed-size
        images, the central crop and random resized crops for the others.
    """
    height, width, _ = info.image_shape
    small = height is not None and width is not None and max(height, width) <= _SMALL_IMAGE_MAX_SIZE
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        size = (image_size, image_size)
    elif height is None or width is None:
        size = (DEFAULT_LARGE_IMAGE_SIZE, DEFAULT_LARGE_IMAGE_SIZE)
    else:
        size = (height, width)
    return Preprocessing(
        image_size=size,
        mean=info.mean,
        std=info.std,
        crop="none" if small else "central",
        train_augmentation="pad_crop_flip" if small else "random_resized_crop_flip",
    )


def make_train_dataset(
    name: str,
    global_batch_size: int,
    *,
    input_context: tf.distribute.InputContext | None = None,
    image_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    seed: int | None = None,
    shuffle_buffer: int = 10_000,
    cache: bool | str = "auto",
    augment: bool = True,
    split: str = "train",
    preprocessing: Preprocessing | None = None,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
    augmentation: Augmentation | None = None,
    epoch: int = 0,
    flip_seed: int = 0,
) -> tf.data.Dataset:
    """Builds the infinite, shuffled, augmented training dataset of one input pipeline.

    Args:
        name: Dataset name, see `load_split` ("shapes10", "cifar10", "imagenette", a folder).
        global_batch_size: Batch size summed over all replicas; must be divisible by
            `input_context.num_replicas_in_sync`.
        input_context: From `strategy.distribute_datasets_from_function`; None for one replica.
        image_size: Side of the square output images; None keeps the dataset's size (224 for
            variable-size datasets).
        data_dir: tfds data directory; None for tfds' default.
        download: Download and prepare a tfds dataset that is missing from `data_dir`.
        seed: Makes shuffling and augmentation reproducible; None draws a random seed.
        shuffle_buffer: Number of examples in the shuffle buffer.
        cache: Keep the decoded uint8 examples of this shard in memory once an epoch has read
            them all, for every later pipeline of this process over the same shard: True,
            False, or "auto" (when the images have one size and take at most 2 GiB).
        augment: Random crop and flip; False only resizes (like evaluation) and normalizes.
        split: The split to train on.
        preprocessing: Resize and normalization to use (a run's recorded one); None derives it
            from the dataset and `image_size` (`preprocessing_for`).
        validation_split: For an image folder without an eval folder, the fraction of each
            class held out of training (see `load_split`).
        augmentation: RandAugment, random erasing, MixUp, CutMix (`Augmentation`), after the
            crop and flip; None: none of them.

    Returns:
        An infinite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches with
        b = global_batch_size // num_replicas_in_sync; with MixUp or CutMix the labels are
        probability vectors, float32 [b, classes].

    Raises:
        ValueError: `global_batch_size` is not positive or not divisible by the replica count;
            `cache` is none of True, False, "auto".
        DatasetUnavailableError: the dataset cannot be loaded (see `load_split`).
    """
    batch_size = _per_replica_batch_size(global_batch_size, input_context)
    if shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be positive, got {shuffle_buffer}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    augmentation = augmentation or Augmentation()
    alternate = augment and augmentation.flip == "alternate"
    dataset, info = shuffled_examples(
        name,
        split,
        input_context=input_context,
        data_dir=data_dir,
        download=download,
        validation_split=validation_split,
        cache=cache,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        with_ids=alternate,
    )
    dataset = dataset.enumerate()

    preprocessing = preprocessing or preprocessing_for(info, image_size)
    pipeline_id, num_pipelines = pipeline_position(input_context)
    extra = augmentation.image_transform(seed + pipeline_id) if augment else None
    mix = augmentation.batch_transform(info.num_classes, seed + pipeline_id) if augment else None

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

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if mix is not None:
        dataset = dataset.map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(
    name: str,
    global_batch_size: int,
    *,
    input_context: tf.distribute.InputContext | None = None,
    image_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    split: str = "test",
    pad_to_full_batches: bool = False,
    preprocessing: Preprocessing | None = None,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
) -> tf.data.Dataset:
    """Builds the one-pass evaluation dataset of one input pipeline; no example is dropped.

    Args:
        name: Dataset name, see `load_split`.
        global_batch_size: Batch size summed over all replicas; must be divisible by
            `input_context.num_replicas_in_sync`.
        input_context: From `strategy.distribute_datasets_from_function`; None for one replica.
        image_size: Side of the square output images; None keeps the dataset's size (224 for
            variable-size datasets).
        data_dir: tfds data directory; None for tfds' default.
        download: Download and prepare a tfds dataset that is missing from `data_dir`.
        split: The split to evaluate on ("test" is "validation" where there is no test split).
        pad_to_full_batches: Pad with weight-0 examples so that all batches are full and every
            replica of every pipeline gets the same number of batches; adds a weight output.
        preprocessing: Resize and normalization to use (a run's recorded one); None derives it
            from the dataset and `image_size` (`preprocessing_for`).
        validation_split: For an image folder without an eval folder, the fraction of each
            class held out for evaluation (see `load_split`); use the training run's.

    Returns:
        A finite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches of the
        per-replica size b (the last one partial), or, with `pad_to_full_batches`, of
        `(image, label, weight float32 [b])` batches that are all full, where weight is 1.0
        for real examples and 0.0 for padding.

    Raises:
        ValueError: `global_batch_size` is not positive or not divisible by the replica count.
        DatasetUnavailableError: the dataset cannot be loaded (see `load_split`).
    """
    batch_size = _per_replica_batch_size(global_batch_size, input_context)
    dataset, info = load_split(
        name, split, data_dir=data_dir, download=download, validation_split=validation_split
    )
    dataset = shard(dataset, input_context)
    preprocessing = preprocessing or preprocessing_for(info, image_size)

    def preprocess(image: tf.Tensor, label: tf.Tensor):
        return preprocessing(image), tf.cast(label, tf.int32)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if not pad_to_full_batches:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    pipeline_id, num_pipelines = pipeline_position(input_context)
    num_replicas = input_context.num_replicas_in_sync if input_context else 1
    pipeline_batch_size = batch_size * max(1, num_replicas // num_pipelines)
    # Every pipeline pads to the size of the largest shard, rounded up to whole pipeline steps,
    # so that all workers run the same number of steps.
    largest_shard = math.ceil(info.num_examples / num_pipelines)
    padded_size = math.ceil(largest_shard / pipeline_batch_size) * pipeline_batch_size
    padding = tf.data.Dataset.from_tensors(
        (
            tf.zeros(preprocessing.input_shape, tf.float32),
            tf.constant(0, tf.int32),
            tf.constant(0.0, tf.float32),
        )
    ).repeat()
    dataset = dataset.map(lambda image, label: (image, label, tf.constant(1.0, tf.float32)))
    dataset = dataset.concatenate(padding).take(padded_size)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _per_replica_batch_size(
    global_batch_size: int, input_context: tf.distribute.InputContext | None
) -> int:
    """global_batch_size // replicas, checking that it divides evenly."""
    num_replicas = input_context.num_replicas_in_sync if input_context else 1
    if global_batch_size < 1:
        raise ValueError(f"global_batch_size must be positive, got {global_batch_size}")
    if global_batch_size % num_replicas:
        raise ValueError(
            f"global_batch_size={global_batch_size} is not divisible by the number of replicas "
            f"in sync ({num_replicas}); use a multiple of {num_replicas}"
        )
    return global_batch_size // num_replicas
