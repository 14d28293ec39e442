"""What a training run needs to know about its dataset, read once.

`describe_dataset` reads a dataset's metadata (class count and names, split sizes, image shape)
and decides its preprocessing. A run plan holds the result, and the run folder records it, so
nothing downstream (the loop, evaluation, export, prediction) reads the metadata again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deepnets.data.datasets import load_split
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
        eval_split: the split evaluated on ("test", or "validation" where there is no test).
        train_examples: examples in the train split.
        eval_examples: examples in the eval split.
        preprocessing: how images become model inputs.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...] | None
    train_split: str
    eval_split: str
    train_examples: int
    eval_examples: int
    preprocessing: Preprocessing

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of one model input."""
        return self.preprocessing.input_shape

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["class_names"] = list(self.class_names) if self.class_names else None
        values["preprocessing"] = self.preprocessing.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DatasetFacts:
        """The inverse of `to_dict`."""
        values = dict(values)
        names = values.get("class_names")
        values["class_names"] = tuple(names) if names else None
        values["preprocessing"] = Preprocessing.from_dict(values["preprocessing"])
        return cls(**values)


def describe_dataset(
    name: str,
    *,
    image_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    train_split: str = "train",
    eval_split: str = "test",
) -> DatasetFacts:
    """Reads a dataset's metadata once and decides its preprocessing.

    Args:
        name: "shapes10" or a tfds dataset name (see `load_split`).
        image_size: side of the square model input; None: the dataset's own size.
        data_dir: tfds data directory; None for tfds' default.
        download: let tfds download and prepare a missing dataset.
        train_split: the split to train on.
        eval_split: the split to evaluate on ("test" means "validation" where there is none).

    Returns:
        The dataset's `DatasetFacts`.

    Raises:
        DatasetUnavailableError: the dataset cannot be read (the message says how to get it).
    """
    _, train = load_split(name, train_split, data_dir=data_dir, download=download)
    _, evaluation = load_split(name, eval_split, data_dir=data_dir, download=False)
    return DatasetFacts(
        name=name,
        num_classes=train.num_classes,
        class_names=train.class_names,
        train_split=train.split,
        eval_split=evaluation.split,
        train_examples=train.num_examples,
        eval_examples=evaluation.num_examples,
        preprocessing=preprocessing_for(train, image_size),
    )
