"""What a training run needs to know about its dataset: one `DatasetFacts`, read once.

A `DatasetSource` (`deepnets.data.source`) reads a dataset's metadata when it is opened (class
count and names, split sizes, image shape) and decides its preprocessing; its `facts` are these.
A run plan holds the source, and the run folder records its facts, so nothing downstream (the
loop, evaluation, export, prediction) reads the metadata again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deepnets.data.preprocessing import Preprocessing

ImageShape = tuple[int | None, int | None, int]


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    """The facts of one dataset that a run depends on.

    Attributes:
        name: the dataset as named in the config ("shapes10", "cifar10", a folder's path, ...).
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
        image_shape: (H, W, 3) of the images as loaded, H and W None when they vary (grayscale
            images are loaded as RGB); None in the records of deepnets 0.2, which lack it.
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
    image_shape: ImageShape | None = None

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
        values["image_shape"] = list(self.image_shape) if self.image_shape else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DatasetFacts:
        """The inverse of `to_dict` (also of the records of deepnets 0.2)."""
        values = dict(values)
        names = values.get("class_names")
        values["class_names"] = tuple(names) if names else None
        values["preprocessing"] = Preprocessing.from_dict(values["preprocessing"])
        values["skipped_files"] = tuple(values.get("skipped_files", ()))
        values.pop("num_skipped_files", None)
        shape = values.get("image_shape")
        values["image_shape"] = tuple(shape) if shape else None
        return cls(**values)
