"""What a training run needs to know about its dataset, read once.

`describe_dataset` reads a dataset's metadata (class count and names, split sizes, image shape)
and decides its preprocessing. A run plan holds the result, and the run folder records it, so
nothing downstream (the loop, evaluation, export, prediction) reads the metadata again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deepnets.data import folders
from deepnets.data.datasets import DEFAULT_VALIDATION_SPLIT, load_split
from deepnets.data.pipeline import preprocessing_for
from deepnets.data.preprocessing import Preprocessing


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    """The facts of one dataset that a run depends on.

    Attributes:
        name: the dataset as named in the config ("shapes10", "cifar10", ...).
        num_classes: number of classes; labels are in [0, num_classes).
        class_names: names indexed by label, or None when the dataset has none.
        train_split: the split trained on.
        eval_split: the split evaluated on ("test", or "validation" where there is no test;
            for an image folder its eval folder, "val", "validation" or "test", or
            "validation" for the part held out of the train images).
        train_examples: examples in the train split.
        eval_examples: examples in the eval split.
        preprocessing: how images become model inputs.
        folder: for an image folder, its absolute path; else None.
        validation_split: for an image folder without an eval folder, the fraction of each
            class held out as the eval split; else None.
        skipped_files: for an image folder, the absolute paths of the image files that do not
            decode and are used by neither split; `num_skipped_files` counts them.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...] | None
    train_split: str
    eval_split: str
    train_examples: int
    eval_examples: int
    preprocessing: Preprocessing
    folder: str | None = None
    validation_split: float | None = None
    skipped_files: tuple[str, ...] = ()

    @property
    def num_skipped_files(self) -> int:
        """How many image files of an image folder do not decode."""
        return len(self.skipped_files)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of one model input."""
        return self.preprocessing.input_shape

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["class_names"] = list(self.class_names) if self.class_names else None
        values["preprocessing"] = self.preprocessing.to_dict()
        values["skipped_files"] = list(self.skipped_files)
        values["num_skipped_files"] = self.num_skipped_files
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DatasetFacts:
        """The inverse of `to_dict`."""
        values = dict(values)
        names = values.get("class_names")
        values["class_names"] = tuple(names) if names else None
        values["preprocessing"] = Preprocessing.from_dict(values["preprocessing"])
        values["skipped_files"] = tuple(values.get("skipped_files", ()))
        values.pop("num_skipped_files", None)
        return cls(**values)


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
    """Reads a dataset's metadata once and decides its preprocessing.

    Args:
        name: "shapes10", a tfds dataset name or an image folder's path (see `load_split`).
        image_size: side of the square model input; None: the dataset's own size.
        data_dir: tfds data directory; None for tfds' default.
        download: let tfds download and prepare a missing dataset.
        train_split: the split to train on.
        eval_split: the split to evaluate on ("test" means "validation" where there is none,
            and an image folder's eval split).
        validation_split: for an image folder without an eval folder, the fraction of each
            class held out for evaluation, in (0, 1); ignored for other datasets.

    Returns:
        The dataset's `DatasetFacts`.

    Raises:
        DatasetUnavailableError: the dataset cannot be read (the message says how to get it).

    Reading an image folder decodes every file once (a few seconds for 50,000 small JPEGs on
    two cores) and warns (`ImageFolderWarning`) about the files that do not decode.
    """
    if folders.is_image_folder(name):
        folders.read_image_folder(name)  # again: the files may have changed since last time
    options = {"data_dir": data_dir, "validation_split": validation_split}
    _, train = load_split(name, train_split, download=download, **options)
    _, evaluation = load_split(name, eval_split, download=False, **options)
    return DatasetFacts(
        name=name,
        num_classes=train.num_classes,
        class_names=train.class_names,
        train_split=train.split,
        eval_split=evaluation.split,
        train_examples=train.num_examples,
        eval_examples=evaluation.num_examples,
        preprocessing=preprocessing_for(train, image_size),
        folder=train.folder,
        validation_split=evaluation.validation_split,
        skipped_files=tuple(dict.fromkeys(train.skipped_files + evaluation.skipped_files)),
    )
