"""One dataset, opened once: where its data is, its facts, its train and eval pipelines.

    source = open_dataset("cifar10", data_dir="~/tensorflow_datasets")
    source.facts.num_classes, source.facts.train_examples        # read when it was opened
    train = strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(256, input_context=ctx, seed=0)
    )
    test = source.eval_dataset(500)

`open_dataset` finds the data once: "shapes10" is generated from code (no download); a path or
an existing directory is an image folder, listed and decoded once (`deepnets.data.folders`); any
other name is a TensorFlow Datasets builder, downloaded and prepared once when allowed
(`deepnets.data.datasets`). The source then answers everything from what it found: its facts
(`DatasetFacts`: classes, split sizes, image shape, preprocessing), the decoded examples of any
split, and the training and evaluation pipelines (`deepnets.data.pipeline`). A run plan opens one
source and passes it on; nothing re-reads the dataset by name, and the decoded images a training
pipeline caches live as long as the source (`deepnets.data.shards`), not the process.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Protocol

import tensorflow as tf

from deepnets.data import offline
from deepnets.data.augment import Augmentation
from deepnets.data.datasets import ShapesData, TfdsData
from deepnets.data.facts import DatasetFacts, ImageShape
from deepnets.data.folders import DEFAULT_VALIDATION_SPLIT, ImageFolder, is_image_folder
from deepnets.data.pipeline import (
    eval_batches,
    per_replica_batch_size,
    train_batches,
    uses_example_ids,
)
from deepnets.data.preprocessing import ChannelStats, Preprocessing, preprocessing_for
from deepnets.data.shards import ShardCache, shuffled_examples


class Reader(Protocol):
    """Where a dataset's images are: `ShapesData`, `TfdsData` or `ImageFolder`."""

    name: str
    num_classes: int
    class_names: tuple[str, ...] | None
    image_shape: ImageShape
    stats: tuple[ChannelStats, ChannelStats]
    folder: str | None
    validation_split: float | None
    skipped_files: tuple[str, ...]

    def resolve(self, split: str) -> str: ...

    def num_examples(self, split: str) -> int: ...

    def examples(self, split: str) -> tf.data.Dataset: ...


def open_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    download: bool = True,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
    image_size: int | None = None,
    preprocessing: Preprocessing | None = None,
    train_split: str = "train",
    eval_split: str = "test",
) -> DatasetSource:
    """Finds a dataset, reads its metadata and decides its preprocessing, once.

    Args:
        name: "shapes10" (generated, always available), a tfds dataset name, optionally with a
            config and version as tfds accepts them ("cifar10", "imagenette/320px-v2"), or the
            path of an image folder (a name that starts with "/", "./", "../" or "~", or an
            existing directory).
        data_dir: where tfds keeps prepared datasets; None for tfds' default. Ignored for
            shapes10 and image folders.
        download: download and prepare a tfds dataset that is not prepared in `data_dir`.
        validation_split: for an image folder without an eval folder, the fraction of each
            class held out as its eval split, in (0, 1); ignored for other datasets.
        image_size: side of the square model input; None: the dataset's own size (224 for
            datasets whose images vary in size).
        preprocessing: the preprocessing to use (a run's recorded one) instead of the one
            derived from the dataset and `image_size`.
        train_split: the split to train on.
        eval_split: the split to evaluate on ("test" means "validation" where there is none,
            and an image folder's eval split).

    Returns:
        The `DatasetSource`.

    Raises:
        DatasetUnavailableError: the dataset is unknown, not prepared and `download` is False,
            or downloading it failed; an image folder is missing or unusable. The message says
            what is missing, where it looked and how to get it.
        ValueError: the dataset has no such split, or `validation_split` is outside (0, 1).

    Opening an image folder decodes every file once (a few seconds for 50,000 small JPEGs on
    two cores) and warns (`ImageFolderWarning`) about the files that do not decode.
    """
    reader: Reader
    if is_image_folder(name):
        reader = ImageFolder(name, validation_split)
    elif name in offline.OFFLINE_DATASETS:
        reader = ShapesData(name)
    else:
        reader = TfdsData(name, data_dir, download)
    train, evaluation = reader.resolve(train_split), reader.resolve(eval_split)
    facts = DatasetFacts(
        name=name,
        num_classes=reader.num_classes,
        class_names=reader.class_names,
        train_split=train,
        eval_split=evaluation,
        train_examples=reader.num_examples(train),
        eval_examples=reader.num_examples(evaluation),
        preprocessing=preprocessing
        or preprocessing_for(reader.image_shape, reader.stats, image_size),
        folder=reader.folder,
        validation_split=reader.validation_split,
        skipped_files=reader.skipped_files,
        image_shape=reader.image_shape,
    )
    return DatasetSource(reader, facts)


class DatasetSource:
    """An open dataset: its facts, its examples and its pipelines (see `open_dataset`).

    Attributes:
        facts: the dataset's `DatasetFacts`; the pipelines use its splits and preprocessing.
    """

    def __init__(self, reader: Reader, facts: DatasetFacts, kept: ShardCache | None = None):
        self._reader = reader
        self.facts = facts
        self._kept = kept or ShardCache()

    def __repr__(self) -> str:
        return f"DatasetSource({self.facts.name!r}, {type(self._reader).__name__})"

    def with_preprocessing(self, preprocessing: Preprocessing) -> DatasetSource:
        """The same source (its data read once, its cached images) with another preprocessing,
        e.g. the one the starting weights of a fine-tuning run expect."""
        facts = dataclasses.replace(self.facts, preprocessing=preprocessing)
        return DatasetSource(self._reader, facts, self._kept)

    def num_examples(self, split: str) -> int:
        """How many examples a split has ("test" as in `open_dataset`)."""
        return self._reader.num_examples(split)

    def examples(self, split: str) -> tf.data.Dataset:
        """A split's `(image uint8 [H, W, 3], label int64)` pairs, unbatched, in a fixed order.

        Args:
            split: "train", "test" (read as "validation" where there is no test split; for an
                image folder, its eval split) or any tfds split string.

        Raises:
            ValueError: the dataset has no such split.
        """
        return self._reader.examples(split)

    def train_dataset(
        self,
        global_batch_size: int,
        *,
        input_context: tf.distribute.InputContext | None = None,
        seed: int | None = None,
        shuffle_buffer: int = 10_000,
        cache: bool | str = "auto",
        augment: bool = True,
        augmentation: Augmentation | None = None,
        epoch: int = 0,
        flip_seed: int = 0,
        split: str | None = None,
    ) -> tf.data.Dataset:
        """The infinite, shuffled, augmented training dataset of one input pipeline.

        Args:
            global_batch_size: batch size summed over all replicas; must be divisible by
                `input_context.num_replicas_in_sync`.
            input_context: from `strategy.distribute_datasets_from_function`; None for one
                replica.
            seed: makes shuffling and augmentation reproducible; None draws a random seed.
            shuffle_buffer: number of examples in the shuffle buffer.
            cache: keep the decoded uint8 examples of this shard in memory once an epoch has
                read them all, for every later pipeline of this source over the same shard:
                True, False, or "auto" (when the images have one size and take at most 2 GiB).
            augment: random crop and flip; False only resizes (like evaluation) and normalizes.
            augmentation: RandAugment, random erasing, MixUp, CutMix, flips (`Augmentation`),
                after the crop; None: the default crop and random flip only.
            epoch: the epoch this pipeline serves (alternating flips turn over each epoch).
            flip_seed: the seed of the alternating flips, the same for every epoch of a run.
            split: the split to train on; None: the facts' `train_split`.

        Returns:
            An infinite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches with
            b = global_batch_size // num_replicas_in_sync; with MixUp or CutMix the labels are
            probability vectors, float32 [b, classes].

        Raises:
            ValueError: `global_batch_size` is not positive or not divisible by the replica
                count, `shuffle_buffer` is not positive, or `cache` is none of True, False,
                "auto".
        """
        batch_size = per_replica_batch_size(global_batch_size, input_context)
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be positive, got {shuffle_buffer}")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        augmentation = augmentation or Augmentation()
        examples = shuffled_examples(
            self._reader,
            split or self.facts.train_split,
            input_context=input_context,
            cache=cache,
            kept=self._kept,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            with_ids=uses_example_ids(augment, augmentation),
        )
        return train_batches(
            examples,
            batch_size,
            preprocessing=self.facts.preprocessing,
            num_classes=self.facts.num_classes,
            input_context=input_context,
            seed=seed,
            augment=augment,
            augmentation=augmentation,
            epoch=epoch,
            flip_seed=flip_seed,
        )

    def eval_dataset(
        self,
        global_batch_size: int,
        *,
        input_context: tf.distribute.InputContext | None = None,
        pad_to_full_batches: bool = False,
        split: str | None = None,
    ) -> tf.data.Dataset:
        """The one-pass evaluation dataset of one input pipeline; no example is dropped.

        Args:
            global_batch_size: batch size summed over all replicas; must be divisible by
                `input_context.num_replicas_in_sync`.
            input_context: from `strategy.distribute_datasets_from_function`; None for one
                replica.
            pad_to_full_batches: pad with weight-0 examples so that all batches are full and
                every replica of every pipeline gets the same number of batches; adds a weight
                output.
            split: the split to evaluate on; None: the facts' `eval_split`.

        Returns:
            A finite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches of the
            per-replica size b (the last one partial), or, with `pad_to_full_batches`, of
            `(image, label, weight float32 [b])` batches that are all full, where weight is 1.0
            for real examples and 0.0 for padding.

        Raises:
            ValueError: `global_batch_size` is not positive or not divisible by the replica
                count; the dataset has no such split.
        """
        batch_size = per_replica_batch_size(global_batch_size, input_context)
        split = split or self.facts.eval_split
        return eval_batches(
            self._reader.examples(split),
            batch_size,
            num_examples=self._reader.num_examples(split),
            preprocessing=self.facts.preprocessing,
            input_context=input_context,
            pad_to_full_batches=pad_to_full_batches,
        )
