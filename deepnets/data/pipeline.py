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

`make_train_dataset`: load -> shard -> cache (decoded uint8, before augmentation) -> shuffle ->
repeat forever -> augment + normalize -> batch (drop remainder) -> prefetch. Yields
`(image float32 [b, S, S, 3], label int32 [b])`.

`make_eval_dataset`: load -> shard -> resize/crop + normalize -> batch -> prefetch, one pass,
every example once. By default the last batch is partial. With `pad_to_full_batches=True` it
yields `(image, label, weight)`: the split is padded with weight-0 examples so that every batch is
full and every replica and worker runs the same number of steps; summing `weight * correct`
over all replicas then gives exact top-k accuracy over the whole split.

Augmentation (train): images of at most 64x64 (CIFAR-like) are padded by 4 pixels (reflect),
randomly cropped back to their size and randomly flipped; larger or variable-size images get an
Inception-style random resized crop (8-100% of the area, aspect 3/4..4/3) and a flip. Images are
then resized to `image_size` when it differs. Evaluation resizes small images to `image_size`
and takes the central 87.5% square of larger ones before resizing. Normalization uses the
dataset's per-channel mean and std (`DatasetInfo`), so the output is about zero-mean, unit-std.

Determinism: with a `seed`, shuffling and augmentation are reproducible: two pipelines built
with the same seed yield identical batches (augmentation uses stateless random ops seeded by
`(seed, example counter)`). With `seed=None` a random seed is drawn.
"""

from __future__ import annotations

import math
import random

import tensorflow as tf

from deepnets.data.datasets import DatasetInfo, load_split

# Training resolution of variable-size datasets (imagenette, imagenet2012) when none is given.
DEFAULT_LARGE_IMAGE_SIZE = 224
# Images up to this size get CIFAR-style pad-and-crop; larger ones a random resized crop.
_SMALL_IMAGE_MAX_SIZE = 64
_CROP_PADDING = 4
_EVAL_CENTRAL_FRACTION = 0.875


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
    cache: bool = True,
    augment: bool = True,
    split: str = "train",
) -> tf.data.Dataset:
    """Builds the infinite, shuffled, augmented training dataset of one input pipeline.

    Args:
        name: Dataset name, see `load_split` ("shapes10", "cifar10", "imagenette", ...).
        global_batch_size: Batch size summed over all replicas; must be divisible by
            `input_context.num_replicas_in_sync`.
        input_context: From `strategy.distribute_datasets_from_function`; None for one replica.
        image_size: Side of the square output images; None keeps the dataset's size (224 for
            variable-size datasets).
        data_dir: tfds data directory; None for tfds' default.
        download: Download and prepare a tfds dataset that is missing from `data_dir`.
        seed: Makes shuffling and augmentation reproducible; None draws a random seed.
        shuffle_buffer: Number of examples in the shuffle buffer.
        cache: Keep the decoded uint8 examples of this shard in memory after the first epoch.
        augment: Random crop and flip; False only resizes (like evaluation) and normalizes.
        split: The split to train on.

    Returns:
        An infinite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches with
        b = global_batch_size // num_replicas_in_sync.

    Raises:
        ValueError: `global_batch_size` is not positive or not divisible by the replica count.
        DatasetUnavailableError: the dataset cannot be loaded (see `load_split`).
    """
    batch_size = _per_replica_batch_size(global_batch_size, input_context)
    if shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be positive, got {shuffle_buffer}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    dataset, info = load_split(name, split, data_dir=data_dir, download=download)
    dataset = _shard(dataset, input_context)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.repeat().enumerate()

    output_size = _output_size(info, image_size)
    pipeline_id, num_pipelines = _pipeline_position(input_context)

    def preprocess(index: tf.Tensor, example: tuple[tf.Tensor, tf.Tensor]):
        image, label = example
        if augment:
            # A different stateless seed per example, and per pipeline, independent of timing.
            example_seed = tf.stack(
                [tf.constant(seed, tf.int64), index * num_pipelines + pipeline_id]
            )
            image = _augment(image, example_seed, info, output_size)
        else:
            image = _central_view(image, info, output_size)
        return _normalize(image, info, output_size), tf.cast(label, tf.int32)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
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
    dataset, info = load_split(name, split, data_dir=data_dir, download=download)
    dataset = _shard(dataset, input_context)
    output_size = _output_size(info, image_size)

    def preprocess(image: tf.Tensor, label: tf.Tensor):
        image = _normalize(_central_view(image, info, output_size), info, output_size)
        return image, tf.cast(label, tf.int32)

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if not pad_to_full_batches:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    pipeline_id, num_pipelines = _pipeline_position(input_context)
    num_replicas = input_context.num_replicas_in_sync if input_context else 1
    pipeline_batch_size = batch_size * max(1, num_replicas // num_pipelines)
    # Every pipeline pads to the size of the largest shard, rounded up to whole pipeline steps,
    # so that all workers run the same number of steps.
    largest_shard = math.ceil(info.num_examples / num_pipelines)
    padded_size = math.ceil(largest_shard / pipeline_batch_size) * pipeline_batch_size
    padding = tf.data.Dataset.from_tensors(
        (
            tf.zeros((*output_size, 3), tf.float32),
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


def _pipeline_position(input_context: tf.distribute.InputContext | None) -> tuple[int, int]:
    """(input_pipeline_id, num_input_pipelines), (0, 1) without a context."""
    if input_context is None:
        return 0, 1
    return input_context.input_pipeline_id, input_context.num_input_pipelines


def _shard(
    dataset: tf.data.Dataset, input_context: tf.distribute.InputContext | None
) -> tf.data.Dataset:
    """This pipeline's 1/num_input_pipelines of the examples (all of them for one pipeline)."""
    pipeline_id, num_pipelines = _pipeline_position(input_context)
    if num_pipelines > 1:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    return dataset


def _output_size(info: DatasetInfo, image_size: int | None) -> tuple[int, int]:
    """(height, width) of the pipeline's output images."""
    if image_size is not None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        return image_size, image_size
    height, width, _ = info.image_shape
    if height is None or width is None:
        return DEFAULT_LARGE_IMAGE_SIZE, DEFAULT_LARGE_IMAGE_SIZE
    return height, width


def _is_small(info: DatasetInfo) -> bool:
    """Whether the dataset's images are small and fixed-size, like CIFAR's."""
    height, width, _ = info.image_shape
    return height is not None and width is not None and max(height, width) <= _SMALL_IMAGE_MAX_SIZE


def _augment(
    image: tf.Tensor, seed: tf.Tensor, info: DatasetInfo, output_size: tuple[int, int]
) -> tf.Tensor:
    """Random crop and horizontal flip of one uint8 image, resized to `output_size`."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    if _is_small(info):
        height, width, channels = info.image_shape
        pad = _CROP_PADDING
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(image, [height, width, channels], seed=crop_seed)
    else:
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image),
            bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=crop_seed,
            min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0),
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        image = tf.slice(image, begin, size)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return _resize(image, info, output_size)


def _central_view(image: tf.Tensor, info: DatasetInfo, output_size: tuple[int, int]) -> tf.Tensor:
    """The evaluation view: the whole small image, or the central square of a large one."""
    if not _is_small(info):
        shape = tf.shape(image)
        side = tf.cast(
            _EVAL_CENTRAL_FRACTION * tf.cast(tf.minimum(shape[0], shape[1]), tf.float32), tf.int32
        )
        image = tf.image.crop_to_bounding_box(
            image, (shape[0] - side) // 2, (shape[1] - side) // 2, side, side
        )
    return _resize(image, info, output_size)


def _resize(image: tf.Tensor, info: DatasetInfo, output_size: tuple[int, int]) -> tf.Tensor:
    """float32 image in 0..255 of `output_size`; resampled only when the size differs."""
    if _is_small(info) and tuple(info.image_shape[:2]) == output_size:
        return tf.cast(image, tf.float32)
    return tf.image.resize(image, output_size, method="bilinear", antialias=True)


def _normalize(image: tf.Tensor, info: DatasetInfo, output_size: tuple[int, int]) -> tf.Tensor:
    """(image / 255 - mean) / std per channel, with a static [H, W, 3] shape."""
    mean = tf.constant(info.mean, tf.float32)
    std = tf.constant(info.std, tf.float32)
    image = (image / 255.0 - mean) / std
    return tf.ensure_shape(image, (*output_size, 3))
