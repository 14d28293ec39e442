"""Input pipelines: datasets by name, the offline shapes10 dataset, train/eval tf.data pipelines.

    from deepnets.data import load_split, make_train_dataset, make_eval_dataset

    dataset, info = load_split("cifar10", "train", data_dir="~/tensorflow_datasets")
    train_ds = strategy.distribute_datasets_from_function(
        lambda ctx: make_train_dataset("shapes10", 256, input_context=ctx, seed=0)
    )

`shapes10` is generated from code and ships with the package (no download); any tfds
image-classification dataset works where it is downloadable or already prepared in `data_dir`.
"""

from deepnets.data.datasets import DatasetInfo, DatasetUnavailableError, load_split
from deepnets.data.facts import DatasetFacts, describe_dataset
from deepnets.data.offline import (
    OFFLINE_DATASETS,
    SHAPES10_CLASS_NAMES,
    generate_shapes10,
    shapes10_arrays,
)
from deepnets.data.pipeline import (
    augment_image,
    make_eval_dataset,
    make_train_dataset,
    preprocessing_for,
)
from deepnets.data.preprocessing import Preprocessing

__all__ = [
    "OFFLINE_DATASETS",
    "SHAPES10_CLASS_NAMES",
    "DatasetFacts",
    "DatasetInfo",
    "DatasetUnavailableError",
    "Preprocessing",
    "augment_image",
    "describe_dataset",
    "generate_shapes10",
    "load_split",
    "make_eval_dataset",
    "make_train_dataset",
    "preprocessing_for",
    "shapes10_arrays",
]
