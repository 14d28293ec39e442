"""Folders of image files as datasets: `PATH/<class>/<image>`, optionally in split folders.

A dataset name that is an existing directory, or that starts with "/", "./", "../" or "~", names
an image folder. Two layouts are read:

    PATH/<class>/<image>                 every class folder is split into train and validation:
                                         `validation_split` of each class is held out
    PATH/train/<class>/<image>           the train split; the eval split is the first of
    PATH/{val,validation,test}/<class>/  PATH/val, PATH/validation, PATH/test that exists (none:
                                         held out of PATH/train as above)

A PATH/train folder makes the second layout (folders beside the split folders are ignored).
Class names are the sorted names of the class folders (of PATH/train in the second layout); an
eval folder may lack a class but not have one of its own. Images are JPEG, PNG, BMP or GIF (first
frame), of any size, decoded by `deepnets.data.images.decode_image` (the one decoder prediction
and the exported model use too). Files and folders whose names start with "." and files beside
the class or split folders are ignored; so are files without an image extension inside a class
folder (they are counted in the warning below). Class folders may hold sub-folders.

The held-out part is stratified and deterministic: each class's files are ranked by a hash of
their path relative to the class folders' parent, and the first round(n * validation_split) are
held out (at least one, at most n - 1, for a class of n >= 2 files), so the same files are held
out on every run and machine, whatever the order the file system lists them in, and adding a file
moves at most one other file between the parts.

Opening a folder (`open_dataset`, or `ImageFolder`) lists it and decodes every file in one
parallel tf.data pass (3-4 s for 50,000 small JPEGs on two cores): a file with an image extension
that does not decode (a truncated JPEG, a text file named .jpg) is left out of both splits and
reported by one `ImageFolderWarning`, so the split sizes are exact and no epoch stops at a bad
file. The pipelines of an open folder use the files of that one reading. A missing folder, fewer
than two classes, an empty class folder or a folder without images raise
`DatasetUnavailableError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os

import numpy as np
import tensorflow as tf

from deepnets.checks import check_in_range
from deepnets.data import folder_scan
from deepnets.data.errors import DatasetUnavailableError
from deepnets.data.folder_scan import EVAL_FOLDERS, TRAIN_FOLDER
from deepnets.data.images import read_image
from deepnets.data.preprocessing import IMAGENET_STATS, ChannelStats

# The fraction of each class of an image folder held out for evaluation, by default.
DEFAULT_VALIDATION_SPLIT = 0.1
# The name of the eval split when it is held out of the train images.
HELD_OUT_SPLIT = "validation"
_PATH_PREFIXES = ("/", "./", "../", "~")


@dataclasses.dataclass(frozen=True)
class FolderSplit:
    """The readable image files of one split of an image folder.

    Attributes:
        paths: absolute file paths, by label, then path.
        labels: the label of each file.
    """

    paths: tuple[str, ...]
    labels: tuple[int, ...]

    def files(self, mixed: bool = False) -> tf.data.Dataset:
        """(path string, label int64) pairs, by label (or, `mixed`, in a fixed random order).

        Args:
            mixed: a fixed permutation that interleaves the classes, so that a shuffle buffer
                smaller than the split still mixes them.

        Returns:
            A dataset of the split's files.
        """
        order = np.arange(len(self.paths))
        if mixed:
            order = np.random.default_rng(0).permutation(len(self.paths))
        paths = tf.constant([self.paths[i] for i in order], tf.string)
        labels = tf.constant(np.array(self.labels, np.int64)[order])
        return tf.data.Dataset.from_tensor_slices((paths, labels))


class ImageFolder:
    """An image folder, read once: its classes, its two splits and their readable files.

    Attributes:
        name: the folder as named.
        folder: its absolute path.
        class_names: the sorted class folder names; labels index them.
        num_classes: how many classes.
        image_shape: (H, W, 3) when every image has that size, else (None, None, 3).
        skipped_files: absolute paths of the image files that do not decode.
        validation_split: the fraction of each class held out as the eval split when the folder
            has no eval folder; else None.
        stats: per-channel (mean, std): ImageNet's, what photographs and weights pretrained on
            ImageNet expect.
    """

    stats: tuple[ChannelStats, ChannelStats] = IMAGENET_STATS

    def __init__(self, name: str, validation_split: float = DEFAULT_VALIDATION_SPLIT) -> None:
        """Reads the folder: lists it and decodes every file once.

        Args:
            name: the folder's path ("~" is expanded).
            validation_split: the fraction of each class held out when the folder has no eval
                folder, in (0, 1).

        Raises:
            DatasetUnavailableError: the folder is missing, has fewer than two classes, an
                empty class folder, no readable images, or holds out no image.
            ValueError: a `validation_split` outside (0, 1).
        """
        check_in_range(
            "validation_split",
            validation_split,
            0.0,
            1.0,
            low_inclusive=False,
            high_inclusive=False,
        )
        self.name = name
        self._scan = folder_scan.scan(name)
        held_out = self._scan.eval_folder is None
        self._eval_name = HELD_OUT_SPLIT if held_out else self._scan.eval_folder
        self.folder = self._scan.root
        self.class_names = self._scan.class_names
        self.num_classes = len(self.class_names)
        self.image_shape = self._scan.image_shape
        self.skipped_files = self._scan.skipped_files
        self.validation_split = validation_split if held_out else None
        self._splits = {TRAIN_FOLDER: self._split(True, validation_split)}
        self._splits[self._eval_name] = self._split(False, validation_split)

    def resolve(self, split: str) -> str:
        """The split's own name: "train", or the eval split's ("test" names it too).

        Raises:
            ValueError: the folder has no such split.
        """
        if split == "test":
            return self._eval_name
        if split not in self._splits:
            raise ValueError(
                f"image folder {self.folder} has the splits {TRAIN_FOLDER!r} and "
                f"{self._eval_name!r} (or 'test' for the latter), got split {split!r}"
            )
        return split

    def files(self, split: str) -> FolderSplit:
        """The readable files of a split ("train", "test" or the eval split's name)."""
        return self._splits[self.resolve(split)]

    def num_examples(self, split: str) -> int:
        """How many readable images a split has."""
        return len(self.files(split).paths)

    def examples(self, split: str) -> tf.data.Dataset:
        """The split's decoded `(image uint8 [H, W, 3], label int64)` pairs, by label."""
        return decode_files(self.files(split).files())

    def _split(self, is_train: bool, validation_split: float) -> FolderSplit:
        """The files of the train or the eval split, held out by `hold_out` when needed."""
        folder = self._scan
        if folder.eval_folder is not None:
            source = folder.train if is_train else folder.evaluation
            indices = list(range(len(source.relpaths)))
        else:
            source = folder.train
            train_indices, eval_indices = hold_out(source.relpaths, source.labels, validation_split)
            indices = train_indices if is_train else eval_indices
            if not indices:
                raise DatasetUnavailableError(
                    f"Image folder {folder.root}: validation_split={validation_split} holds out "
                    f"no image (a class needs two images to give one); add images, or put the "
                    f"evaluation images in {os.path.join(folder.root, EVAL_FOLDERS[0])}/<class>/."
                )
        return FolderSplit(
            paths=tuple(os.path.join(source.directory, source.relpaths[i]) for i in indices),
            labels=tuple(source.labels[i] for i in indices),
        )


def is_image_folder(name: str) -> bool:
    """Whether a dataset name names an image folder: an existing directory, or a path.

    Args:
        name: a dataset name.

    Returns:
        True for an existing directory and for a name starting with "/", "./", "../" or "~".
    """
    return name.startswith(_PATH_PREFIXES) or os.path.isdir(name)


def decode_files(files: tf.data.Dataset, with_ids: bool = False) -> tf.data.Dataset:
    """(image uint8 [H, W, 3], label int64) of (path, label) pairs, decoded in parallel; with
    `with_ids`, (id, (image, label)) of (id, (path, label)) pairs."""
    if with_ids:
        return files.map(
            tf.autograph.experimental.do_not_convert(
                lambda i, file: (i, (read_image(file[0]), file[1]))
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return files.map(
        tf.autograph.experimental.do_not_convert(lambda path, label: (read_image(path), label)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def hold_out(
    relpaths: tuple[str, ...], labels: tuple[int, ...], fraction: float
) -> tuple[list[int], list[int]]:
    """Splits files into a training and a held-out part, per class, by a hash of their paths.

    Args:
        relpaths: the files' paths relative to the class folders' parent ("cat/0001.jpg").
        labels: each file's class.
        fraction: the part of each class to hold out, in (0, 1).

    Returns:
        (train indices, held-out indices), each ascending; a class of n >= 2 files holds out
        round(n * fraction) of them (half up), at least 1 and at most n - 1; a class of one
        file holds out none.
    """
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    train, held = [], []
    for indices in by_class.values():
        ranked = sorted(indices, key=lambda i: (_path_hash(relpaths[i]), relpaths[i]))
        count = held_out_count(len(ranked), fraction)
        held += ranked[:count]
        train += ranked[count:]
    return sorted(train), sorted(held)


def held_out_count(num_files: int, fraction: float) -> int:
    """How many of a class's `num_files` files are held out (see `hold_out`)."""
    if num_files < 2:
        return 0
    return min(max(math.floor(num_files * fraction + 0.5), 1), num_files - 1)


def _path_hash(relpath: str) -> bytes:
    return hashlib.sha1(relpath.replace(os.sep, "/").encode("utf-8")).digest()
