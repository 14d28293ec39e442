"""The examples a training input pipeline reads, and a memory cache of them that outlives an epoch.

The training loop builds a new training pipeline every epoch (`train_input_fn(ctx, epoch)`, so
that a resumed run can rebuild any epoch from its seed). A `Dataset.cache()` made inside that
pipeline would be filled, and thrown away, every epoch. So the cached part, the decoded uint8
examples of one input pipeline's shard, is made once per process and kept here, keyed by the
dataset, split and shard: every later pipeline over the same examples starts from the same
`cache()` dataset, and once one epoch has read it to the end, later epochs read memory instead of
decoding files. The last few cached datasets are kept (a run uses one per input pipeline).

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

import tensorflow as tf

from deepnets.checks import check_choice
from deepnets.data import folders
from deepnets.data.datasets import DatasetInfo, load_split

CACHE_CHOICES = ("auto", True, False)
AUTO_CACHE_MAX_BYTES = 2 * 1024**3
_KEPT_CACHES = 4
_CACHED: collections.OrderedDict[Hashable, tf.data.Dataset] = collections.OrderedDict()


def cache_decision(cache: bool | str, info: DatasetInfo) -> bool:
    """Whether to cache a split's decoded images in memory.

    Args:
        cache: True, False or "auto" (cache when the images have one size and take at most
            `AUTO_CACHE_MAX_BYTES` as uint8).
        info: the split.

    Returns:
        True to cache.

    Raises:
        ArgumentError: `cache` is none of True, False, "auto".
    """
    check_choice("cache", cache, CACHE_CHOICES)
    if cache != "auto":
        return cache
    height, width, channels = info.image_shape
    if height is None or width is None:
        return False
    return info.num_examples * height * width * channels <= AUTO_CACHE_MAX_BYTES


def shuffled_examples(
    name: str,
    split: str,
    *,
    input_context: tf.distribute.InputContext | None,
    data_dir: str | None,
    download: bool,
    validation_split: float,
    cache: bool | str,
    seed: int,
    shuffle_buffer: int,
    with_ids: bool = False,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """This input pipeline's shard of a split: decoded, shuffled every epoch, repeated forever.

    Args:
        name: dataset name (see `load_split`).
        split: the split.
        input_context: the pipeline's context, or None for one pipeline.
        data_dir: tfds data directory.
        download: let tfds download and prepare a missing dataset.
        validation_split: an image folder's held-out fraction (see `load_split`).
        cache: True, False or "auto" (see `cache_decision`).
        seed: the shuffling seed.
        shuffle_buffer: examples in the shuffle buffer.
        with_ids: give each example its position in the shard's fixed order, the same every
            epoch: the elements become `(example_id int64, (image, label))`.

    Returns:
        (dataset of `(image uint8 [H, W, 3], label int64)`, the split's info).
    """
    ids = (lambda dataset: dataset.enumerate()) if with_ids else (lambda dataset: dataset)
    pipeline_id, num_pipelines = pipeline_position(input_context)
    if folders.is_image_folder(name):
        folder_split = folders.read_folder_split(name, split, validation_split)
        info = folder_split.info
        files = shard(folder_split.files(mixed=True), input_context)
        if not cache_decision(cache, info):
            names = ids(files).shuffle(
                max(1, math.ceil(info.num_examples / num_pipelines)),
                seed=seed,
                reshuffle_each_iteration=True,
            )
            # A file changed since the folder was read is skipped: it never stops an epoch.
            return folders.decode_files(names.repeat(), with_ids).ignore_errors(), info
        key = (info.folder, folder_split.fingerprint, info.split, info.validation_split)
        examples = _kept(
            (*key, pipeline_id, num_pipelines),
            lambda: folders.decode_files(files).ignore_errors().cache(),
        )
    else:
        examples, info = load_split(name, split, data_dir=data_dir, download=download)
        examples = shard(examples, input_context)
        if cache_decision(cache, info):
            key = (name, data_dir, info.split, pipeline_id, num_pipelines)
            examples = _kept(key, examples.cache)
    shuffled = ids(examples).shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return shuffled.repeat(), info


def _kept(key: Hashable, make: Callable[[], tf.data.Dataset]) -> tf.data.Dataset:
    """The cached dataset made for `key` earlier in this process, else a new one."""
    if key in _CACHED:
        _CACHED.move_to_end(key)
    else:
        _CACHED[key] = make()
        while len(_CACHED) > _KEPT_CACHES:
            _CACHED.popitem(last=False)
    return _CACHED[key]


def clear_caches() -> None:
    """Forgets every kept cache (their memory is freed when no pipeline reads them)."""
    _CACHED.clear()


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
