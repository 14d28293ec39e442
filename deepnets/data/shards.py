"""The examples one training input pipeline reads: its shard of a split, shuffled, maybe cached.

The training loop builds a new training pipeline every epoch (`train_input_fn(ctx, epoch)`, so
that a resumed run can rebuild any epoch from its seed). A `Dataset.cache()` made inside that
pipeline would be filled, and thrown away, every epoch. So the cached part, the decoded uint8
examples of one input pipeline's shard, is made once per `DatasetSource` and kept in its
`ShardCache`, keyed by the split and the shard: every later pipeline of the source over the same
examples starts from the same `cache()` dataset, and once one epoch has read it to the end, later
epochs read memory instead of decoding files. The cache lives and dies with its source: nothing
is kept process-wide.

Caching is a choice (`cache`): True, False, or "auto", which caches when the decoded images take
at most `AUTO_CACHE_MAX_BYTES` (images of one fixed size: n * H * W * 3 bytes; images of
different sizes are never cached by "auto").

Image folders list their files in a fixed random order that interleaves the classes (their
listing is sorted by class). Without a cache, the file names of the whole shard are shuffled
every epoch before decoding; with one, the shuffle buffer shuffles the cached examples.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Hashable
from typing import Any

import tensorflow as tf

from deepnets.checks import check_choice
from deepnets.data import folders

CACHE_CHOICES = ("auto", True, False)
AUTO_CACHE_MAX_BYTES = 2 * 1024**3
_KEPT_CACHES = 4


def cache_decision(
    cache: bool | str, image_shape: tuple[int | None, int | None, int], num_examples: int
) -> bool:
    """Whether to cache a split's decoded images in memory.

    Args:
        cache: True, False or "auto" (cache when the images have one size and take at most
            `AUTO_CACHE_MAX_BYTES` as uint8).
        image_shape: (H, W, 3) of the images, H and W None when they vary.
        num_examples: the examples to cache.

    Returns:
        True to cache.

    Raises:
        ArgumentError: `cache` is none of True, False, "auto".
    """
    check_choice("cache", cache, CACHE_CHOICES)
    if cache != "auto":
        return cache
    height, width, channels = image_shape
    if height is None or width is None:
        return False
    return num_examples * height * width * channels <= AUTO_CACHE_MAX_BYTES


class ShardCache:
    """The last few cached shards of one source (a run uses one per input pipeline)."""

    def __init__(self) -> None:
        self._kept: collections.OrderedDict[Hashable, tf.data.Dataset] = collections.OrderedDict()

    def get(self, key: Hashable, make: Callable[[], tf.data.Dataset]) -> tf.data.Dataset:
        """The cached dataset made for `key` earlier, else a new one from `make()`."""
        if key in self._kept:
            self._kept.move_to_end(key)
        else:
            self._kept[key] = make()
            while len(self._kept) > _KEPT_CACHES:
                self._kept.popitem(last=False)
        return self._kept[key]


def shuffled_examples(
    reader: Any,
    split: str,
    *,
    input_context: tf.distribute.InputContext | None,
    cache: bool | str,
    kept: ShardCache,
    seed: int,
    shuffle_buffer: int,
    with_ids: bool = False,
) -> tf.data.Dataset:
    """This input pipeline's shard of a split: decoded, shuffled every epoch, repeated forever.

    Args:
        reader: the source's reader (`ImageFolder`, `TfdsData` or `ShapesData`).
        split: the split.
        input_context: the pipeline's context, or None for one pipeline.
        cache: True, False or "auto" (see `cache_decision`).
        kept: the source's cached shards.
        seed: the shuffling seed.
        shuffle_buffer: examples in the shuffle buffer.
        with_ids: give each example its position in the shard's fixed order, the same every
            epoch: the elements become `(example_id int64, (image, label))`.

    Returns:
        A dataset of `(image uint8 [H, W, 3], label int64)`.
    """
    ids = (lambda dataset: dataset.enumerate()) if with_ids else (lambda dataset: dataset)
    pipeline_id, num_pipelines = pipeline_position(input_context)
    split = reader.resolve(split)
    num_examples = reader.num_examples(split)
    cached = cache_decision(cache, reader.image_shape, num_examples)
    key = (split, pipeline_id, num_pipelines)
    if isinstance(reader, folders.ImageFolder):
        files = shard(reader.files(split).files(mixed=True), input_context)
        if not cached:
            names = ids(files).shuffle(
                max(1, math.ceil(num_examples / num_pipelines)),
                seed=seed,
                reshuffle_each_iteration=True,
            )
            # A file changed since the folder was read is skipped: it never stops an epoch.
            return folders.decode_files(names.repeat(), with_ids).ignore_errors()
        examples = kept.get(key, lambda: folders.decode_files(files).ignore_errors().cache())
    else:
        examples = shard(reader.examples(split), input_context)
        if cached:
            examples = kept.get(key, examples.cache)
    shuffled = ids(examples).shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return shuffled.repeat()


def pipeline_position(input_context: tf.distribute.InputContext | None) -> tuple[int, int]:
    """(input_pipeline_id, num_input_pipelines), (0, 1) without a context."""
    if input_context is None:
        return 0, 1
    return input_context.input_pipeline_id, input_context.num_input_pipelines


def shard(
    dataset: tf.data.Dataset, input_context: tf.distribute.InputContext | None
) -> tf.data.Dataset:
    """This pipeline's 1/num_input_pipelines of the examples (all of them for one pipeline)."""
    pipeline_id, num_pipelines = pipeline_position(input_context)
    if num_pipelines > 1:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    return dataset
