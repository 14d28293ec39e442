"""Input pipelines: datasets by name, image folders, shapes10, train/eval tf.data pipelines.

    from deepnets.data import open_dataset

    source = open_dataset("cifar10", data_dir="~/tensorflow_datasets")  # found and read once
    source.facts.num_classes, source.facts.train_examples
    train_ds = strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(256, input_context=ctx, seed=0)
    )
    eval_ds = source.eval_dataset(500)

`shapes10` is generated from code and ships with the package (no download); any tfds
image-classification dataset works where it is downloadable or already prepared in `data_dir`;
a path names a folder of class folders of images (`deepnets.data.folders`):

    facts = open_dataset("~/photos", validation_split=0.1).facts   # PATH/<class>/<image>

`load_split`, `describe_dataset`, `make_train_dataset` and `make_eval_dataset` do the same by
name for a one-off call; each opens the dataset anew.
"""

from deepnets.data.augment import Augmentation, augment_image
from deepnets.data.by_name import (
    describe_dataset,
    load_split,
    make_eval_dataset,
    make_train_dataset,
)
from deepnets.data.errors import DatasetUnavailableError
from deepnets.data.facts import DatasetFacts
from deepnets.data.folder_scan import ImageFolderWarning
from deepnets.data.folders import DEFAULT_VALIDATION_SPLIT, is_image_folder
from deepnets.data.offline import (
    OFFLINE_DATASETS,
    SHAPES10_CLASS_NAMES,
    generate_shapes10,
    shapes10_arrays,
    shapes10_sample,
)
from deepnets.data.preprocessing import Preprocessing, preprocessing_for
from deepnets.data.source import DatasetSource, open_dataset

__all__ = [
    "Augmentation",
    "DEFAULT_VALIDATION_SPLIT",
    "OFFLINE_DATASETS",
    "SHAPES10_CLASS_NAMES",
    "DatasetFacts",
    "DatasetSource",
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
    "open_dataset",
    "preprocessing_for",
    "shapes10_arrays",
    "shapes10_sample",
]
