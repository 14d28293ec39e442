"""The data functions by dataset name: each opens a `DatasetSource` and asks it once.

    dataset, facts = load_split("cifar10", "train", data_dir="~/tensorflow_datasets")
    train = make_train_dataset("shapes10", 256, seed=0)

They are shortcuts for a one-off call. Each call opens the dataset anew (an image folder is
listed and decoded again, a training pipeline's cache starts empty), so a program that reads a
dataset more than once opens it once with `open_dataset` and calls the source instead; the
training run does.
"""

from __future__ import annotations

import tensorflow as tf

from deepnets.data.augment import Augmentation
from deepnets.data.facts import DatasetFacts
from deepnets.data.folders import DEFAULT_VALIDATION_SPLIT
from deepnets.data.preprocessing import Preprocessing
from deepnets.data.source import open_dataset


def describe_dataset(
    name: str,
    *,
    image_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    train_split: str = "train",
    eval_split: str = "test",
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
) -> DatasetFacts:
    """The facts of a dataset: `open_dataset(name, ...).facts` (see `open_dataset`).

    Returns:
        The dataset's `DatasetFacts`.

    Raises:
        DatasetUnavailableError: the dataset cannot be read (the message says how to get it).
    """
    return open_dataset(
        name,
        image_size=image_size,
        data_dir=data_dir,
        download=download,
        train_split=train_split,
        eval_split=eval_split,
        validation_split=validation_split,
    ).facts


def load_split(
    name: str,
    split: str,
    data_dir: str | None = None,
    download: bool = True,
    *,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
) -> tuple[tf.data.Dataset, DatasetFacts]:
    """One split of a dataset as `(image, label)` pairs in a fixed order, and the dataset's facts.

    Args:
        name, data_dir, download, validation_split: as for `open_dataset`.
        split: "train", "test" (read as "validation" where there is no test split; for an image
            folder, its eval split) or any tfds split string.

    Returns:
        (dataset, facts): the dataset yields `(image uint8 [H, W, 3], label int64 [])`,
        unbatched and unshuffled; `facts` describe the dataset (its train and eval splits).

    Raises:
        DatasetUnavailableError: the dataset cannot be read.
        ValueError: the dataset has no such split.
    """
    source = open_dataset(
        name, data_dir=data_dir, download=download, validation_split=validation_split
    )
    return source.examples(split), source.facts


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
    """The training dataset of one input pipeline: `open_dataset(name, ...).train_dataset(...)`.

    Args:
        name, image_size, data_dir, download, preprocessing, validation_split: as for
            `open_dataset`.
        split: the split to train on.
        global_batch_size, input_context, seed, shuffle_buffer, cache, augment, augmentation,
            epoch, flip_seed: as for `DatasetSource.train_dataset`.

    Returns:
        An infinite dataset of `(image float32 [b, S, S, 3], label int32 [b])` batches.
    """
    source = open_dataset(
        name,
        data_dir=data_dir,
        download=download,
        validation_split=validation_split,
        image_size=image_size,
        preprocessing=preprocessing,
        train_split=split,
    )
    return source.train_dataset(
        global_batch_size,
        input_context=input_context,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        cache=cache,
        augment=augment,
        augmentation=augmentation,
        epoch=epoch,
        flip_seed=flip_seed,
    )


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
    """The evaluation dataset of one input pipeline: `open_dataset(name, ...).eval_dataset(...)`.

    Args:
        name, image_size, data_dir, download, preprocessing, validation_split: as for
            `open_dataset`.
        split: the split to evaluate on ("test" is "validation" where there is no test split).
        global_batch_size, input_context, pad_to_full_batches: as for
            `DatasetSource.eval_dataset`.

    Returns:
        A finite dataset of `(image, label)` batches, or `(image, label, weight)` ones with
        `pad_to_full_batches`.
    """
    source = open_dataset(
        name,
        data_dir=data_dir,
        download=download,
        validation_split=validation_split,
        image_size=image_size,
        preprocessing=preprocessing,
        eval_split=split,
    )
    return source.eval_dataset(
        global_batch_size, input_context=input_context, pad_to_full_batches=pad_to_full_batches
    )
