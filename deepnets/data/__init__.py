"""Input pipelines: datasets by name, image folders, shapes10, train/eval tf.data pipelines.

    from deepnets.data import load_split, make_train_dataset, make_eval_dataset

    dataset, info = load_split("cifar10", "train", data_dir="~/tensorflow_datasets")
    train_ds = strategy.distribute_datasets_from_function(
        lambda ctx: make_train_dataset("shapes10", 256, input_context=ctx, seed=0)
    )

`shapes10` is generated from code and ships with the package (no download); any tfds
image-classification dataset works where it is downloadable or already prepared in `data_dir`;
a path names a folder of class folders of images (`deepnets.data.folders`):

    facts = describe_dataset("~/photos", validation_split=0.1)   # PATH/<class>/<image>
"""

from deepnets.data.augment import Augmentation, augment_image
from deepnets.data.datasets import (
    DEFAULT_VALIDATION_SPLIT,
    DatasetInfo,
    DatasetUnavailableError,
    load_split,
)
from deepnets.data.facts import DatasetFacts, describe_dataset
from deepnets.data.folder_scan import ImageFolderWarning
from deepnets.data.folders import is_image_folder
from deepnets.data.offline import (
    OFFLINE_DATASETS,
    SHAPES10_CLASS_NAMES,
    generate_shapes10,
    shapes10_arrays,
)
from deepnets.data.pipeline import (
    make_eval_dataset,
    make_train_dataset,
    preprocessing_for,
)
from deepnets.data.preprocessing import Preprocessing

__all__ = [
    "Augmentation",
    "DEFAULT_VALIDATION_SPLIT",
    "OFFLINE_DATASETS",
    "SHAPES10_CLASS_NAMES",
    "DatasetFacts",
    "DatasetInfo",
    "DatasetUnavailableError",
    "ImageFolderWarning",
    "Preprocessing",
    "augment_image",
    "describe_dataset",
    "generate_shapes10",
    "is_image_folder",
    "load_split",
    "make_eval_dataset",
    "make_train_dataset",
    "preprocessing_for",
    "shapes10_arrays",
]
