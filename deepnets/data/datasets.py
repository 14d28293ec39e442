"""Datasets by name: the offline shapes10 and any TensorFlow Datasets image classifier.

`ShapesData` serves the offline datasets of `deepnets.data.offline` ("shapes10"); `TfdsData`
any TensorFlow Datasets (tfds) image-classification dataset ("cifar10", "cifar100", "imagenette",
"imagenet2012", ...). Both give their splits the same way as an image folder does
(`deepnets.data.folders.ImageFolder`): `(image uint8 [H, W, 3], label int64)` pairs in a fixed
order, and the metadata a `DatasetSource` makes its facts of.

tfds datasets are read from `data_dir` (tfds' default, `~/tensorflow_datasets` or
`$TFDS_DATA_DIR`, when None). When they are not prepared there, `download=True` downloads and
prepares them, as `tfds.load` would, once, when the dataset is opened. Whatever goes wrong on the
way (no network, unknown name, a dataset that needs a manual download) surfaces as one
`DatasetUnavailableError` whose message says what is missing, where it looked and how to get it.

Split names: "train" and "test" work for every dataset; "test" means "validation" for datasets
without a test split (imagenette, imagenet2012). Any other tfds split string, slices included
("train[:10%]"), is passed to tfds unchanged.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_datasets as tfds

from deepnets.data import offline
from deepnets.data.errors import DatasetUnavailableError
from deepnets.data.preprocessing import channel_stats

# Datasets whose held-out split is called "validation"; used before their metadata is known.
_VALIDATION_INSTEAD_OF_TEST = frozenset({"imagenette", "imagenet2012", "imagewang"})


class ShapesData:
    """An offline dataset (shapes10): generated arrays, no download.

    Attributes:
        name, num_classes, class_names, image_shape, stats: as for `TfdsData`.
    """

    folder = None
    validation_split = None
    skipped_files: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self.class_names = offline.SHAPES10_CLASS_NAMES
        self.num_classes = len(self.class_names)
        self.image_shape = offline.SHAPES10_IMAGE_SHAPE
        self.stats = channel_stats(name)

    def resolve(self, split: str) -> str:
        """The split's name ("train" or "test").

        Raises:
            ValueError: no such split.
        """
        if split not in offline.SHAPES10_SPLIT_SIZES:
            raise ValueError(
                f"shapes10 has splits {sorted(offline.SHAPES10_SPLIT_SIZES)}, got split {split!r}"
            )
        return split

    def num_examples(self, split: str) -> int:
        """The split's size."""
        return offline.SHAPES10_SPLIT_SIZES[self.resolve(split)]

    def examples(self, split: str) -> tf.data.Dataset:
        """The split's `(image uint8 [32, 32, 3], label int64)` pairs in a fixed order."""
        images, labels = offline.shapes10_arrays(self.resolve(split))
        return tf.data.Dataset.from_tensor_slices((images, labels))


class TfdsData:
    """A tfds image-classification dataset, prepared (downloaded when allowed) once.

    Attributes:
        name: the name as given ("cifar10", "imagenette/320px-v2").
        num_classes: number of classes; labels are in [0, num_classes).
        class_names: names by label, or None when tfds has none.
        image_shape: (H, W, 3) of the images as loaded; H and W are None when they vary.
        stats: per-channel (mean, std) of the train split, 0..1 scale (ImageNet's when not
            measured here).
    """

    folder = None
    validation_split = None
    skipped_files: tuple[str, ...] = ()

    def __init__(self, name: str, data_dir: str | None = None, download: bool = True) -> None:
        """Finds the dataset in `data_dir`, downloading and preparing it when allowed.

        Args:
            name: a tfds name, optionally with config and version ("imagenette/320px-v2").
            data_dir: where tfds keeps prepared datasets; None for tfds' default.
            download: download and prepare the dataset when it is not prepared in `data_dir`.

        Raises:
            DatasetUnavailableError: unknown, not prepared and `download` is False, or the
                download failed; the message says how to get it.
            ValueError: the dataset has no (image, label) supervised keys.
        """
        root = data_dir or tfds.core.constants.get_default_data_dir()
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.DatasetNotFoundError as err:
            raise DatasetUnavailableError(
                _unavailable_message(name, root, "it is not a tfds dataset", known=False)
            ) from err
        if not builder.is_prepared():
            if not download:
                raise DatasetUnavailableError(
                    _unavailable_message(
                        name, root, f"it is not prepared in {builder.data_dir} and download=False"
                    )
                )
            try:
                builder.download_and_prepare()
            except Exception as err:  # network, manual download, disk: all mean "unavailable"
                reason = (
                    f"downloading and preparing it failed ({type(err).__name__}: "
                    f"{_first_line(err)})"
                )
                raise DatasetUnavailableError(_unavailable_message(name, root, reason)) from err
        if builder.info.supervised_keys is None:
            raise ValueError(f"tfds dataset {name!r} has no (image, label) supervised keys")
        image_key, label_key = builder.info.supervised_keys
        label_feature = builder.info.features[label_key]
        height, width, _ = builder.info.features[image_key].shape
        names = getattr(label_feature, "names", None)
        self.name = name
        self.num_classes = label_feature.num_classes
        self.class_names = tuple(names) if names else None
        self.image_shape = (height, width, 3)
        self.stats = channel_stats(_base_name(name))
        self._builder = builder

    def resolve(self, split: str) -> str:
        """The split's tfds name: "test" is "validation" where there is no test split.

        Raises:
            ValueError: the dataset has no such split.
        """
        return _resolve_split(self.name, split, self._builder.info)

    def num_examples(self, split: str) -> int:
        """The split's size, from the tfds metadata, else from the dataset's cardinality."""
        split = self.resolve(split)
        if list(self._builder.info.splits):
            return int(self._builder.info.splits[split].num_examples)
        cardinality = int(self.examples(split).cardinality())
        if cardinality < 0:
            raise ValueError(f"the size of split {split!r} of dataset {self.name!r} is unknown")
        return cardinality

    def examples(self, split: str) -> tf.data.Dataset:
        """The split's `(image uint8 [H, W, 3], label int64)` pairs in a fixed order."""
        dataset = self._builder.as_dataset(
            split=self.resolve(split), as_supervised=True, shuffle_files=False
        )
        return dataset.map(
            tf.autograph.experimental.do_not_convert(_to_rgb_uint8_int64),
            num_parallel_calls=tf.data.AUTOTUNE,
        )


def _unavailable_message(name: str, data_dir: str, reason: str, *, known: bool = True) -> str:
    """The one message every `DatasetUnavailableError` carries: what, where, how to fix it."""
    offline_names = ", ".join(repr(n) for n in offline.OFFLINE_DATASETS)
    if known:
        how = (
            "To get it: run once with network access and download enabled, or prepare it with "
            f"`tfds build {_base_name(name)} --data_dir {data_dir}`, or copy a prepared dataset "
            f"into {data_dir}."
        )
    else:
        how = (
            f"It is neither an offline deepnets dataset ({offline_names}) nor a registered tfds "
            "dataset; `tfds.list_builders()` lists the names tfds knows."
        )
    return (
        f"Dataset {name!r} is not available: {reason}.\n"
        f"Looked in data_dir={data_dir!r}.\n"
        f"{how} Or use {offline_names}, which ships with deepnets and needs no download."
    )


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message, shortened for an error message."""
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "no message"


def _base_name(name: str) -> str:
    """ "imagenette/320px-v2:1.0.0" -> "imagenette"."""
    return name.split(":")[0].split("/")[0]


def _resolve_split(name: str, split: str, info: tfds.core.DatasetInfo) -> str:
    """Maps "test" to "validation" where needed and checks that the split exists."""
    available = list(info.splits)
    if "[" in split or "+" in split:  # tfds slicing syntax: tfds validates it
        return split
    if not available:  # metadata not known (e.g. mocked): trust the static table
        if split == "test" and _base_name(name) in _VALIDATION_INSTEAD_OF_TEST:
            return "validation"
        return split
    if split in available:
        return split
    if split == "test" and "validation" in available:
        return "validation"
    raise ValueError(f"dataset {name!r} has splits {sorted(available)}, got split {split!r}")


def _to_rgb_uint8_int64(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Casts a tfds (image, label) pair to (uint8 [H, W, 3], int64 [])."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif image.shape.rank == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return tf.cast(image, tf.uint8), tf.cast(label, tf.int64)
