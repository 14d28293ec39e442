"""Loading one split of an image-classification dataset by name.

`load_split(name, split)` accepts the offline datasets of `deepnets.data.offline` ("shapes10"),
any TensorFlow Datasets (tfds) image-classification dataset ("cifar10", "cifar100",
"imagenette", "imagenet2012", ...) and image folders: a name that is an existing directory or
starts with "/", "./", "../" or "~" (see `deepnets.data.folders`). Every dataset comes back the
same way: a `tf.data.Dataset` of `(image uint8 [H, W, 3], label int64)` pairs, in a fixed
order, plus a `DatasetInfo` with what a pipeline needs to know (classes, split size, image shape,
per-channel mean and std).

tfds datasets are read from `data_dir` (tfds' default, `~/tensorflow_datasets` or
`$TFDS_DATA_DIR`, when None). When they are not prepared there, `download=True` downloads and
prepares them, as `tfds.load` would. Whatever goes wrong on the way (no network, unknown name,
a dataset that needs a manual download) surfaces as one `DatasetUnavailableError` whose message
says what is missing, where it looked and how to get it.

Split names: "train" and "test" work for every dataset; "test" means "validation" for datasets
without a test split (imagenette, imagenet2012). Any other tfds split string, slices included
("train[:10%]"), is passed to tfds unchanged.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from deepnets.data import offline

ChannelStats = tuple[float, float, float]

IMAGENET_STATS: tuple[ChannelStats, ChannelStats] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Per-channel (mean, std) of the train split in 0..1 scale. Datasets not listed here, image
# folders included, use the ImageNet statistics: the usual choice for natural photographs, and
# what a network pretrained on ImageNet expects when it is fine-tuned on a folder.
_CHANNEL_STATS: dict[str, tuple[ChannelStats, ChannelStats]] = {
    offline.SHAPES10: (offline.SHAPES10_MEAN, offline.SHAPES10_STD),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,) * 3, (0.3081,) * 3),
    "fashion_mnist": ((0.2860,) * 3, (0.3530,) * 3),
}
# The fraction of each class of an image folder held out for evaluation, by default.
DEFAULT_VALIDATION_SPLIT = 0.1
# Datasets whose held-out split is called "validation"; used before their metadata is known.
_VALIDATION_INSTEAD_OF_TEST = frozenset({"imagenette", "imagenet2012", "imagewang"})


class DatasetUnavailableError(ValueError):
    """The dataset cannot be read: unknown name, not prepared in `data_dir`, or download failed."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What an input pipeline needs to know about one split of a dataset.

    Attributes:
        name: The dataset name as given to `load_split` (e.g. "cifar10", "shapes10").
        split: The split actually read (e.g. "validation" when "test" was asked for imagenette).
        num_classes: Number of classes; labels are in [0, num_classes).
        num_examples: Number of examples in this split.
        image_shape: (H, W, C) of the images as loaded; H and W are None when they vary.
            C is always 3 (grayscale images are loaded as RGB).
        class_names: Class names indexed by label, or None when the dataset has none.
        mean: Per-channel mean of the train split, 0..1 scale.
        std: Per-channel standard deviation of the train split, 0..1 scale.
        folder: For an image folder, its absolute path; else None.
        validation_split: For an image folder without an eval folder, the fraction of each
            class held out for evaluation (its train and its eval split both say it); else None.
        skipped_files: For an image folder, the absolute paths of its image files that do not
            decode (in neither split); else empty.
    """

    name: str
    split: str
    num_classes: int
    num_examples: int
    image_shape: tuple[int | None, int | None, int]
    class_names: tuple[str, ...] | None
    mean: ChannelStats
    std: ChannelStats
    folder: str | None = None
    validation_split: float | None = None
    skipped_files: tuple[str, ...] = ()


def load_split(
    name: str,
    split: str,
    data_dir: str | None = None,
    download: bool = True,
    *,
    validation_split: float = DEFAULT_VALIDATION_SPLIT,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads one split of a dataset as `(image, label)` pairs in a fixed order.

    An image folder is read (listed, every file decoded once) the first time a process names
    it; later calls use that reading, and `describe_dataset` reads the folder again.

    Args:
        name: "shapes10" (generated, always available), a tfds dataset name, optionally with
            a config and version as tfds accepts them ("cifar10", "imagenette/320px-v2"), or
            the path of an image folder.
        split: "train", "test" (read as "validation" where there is no test split; for an image
            folder, its eval split) or any tfds split string.
        data_dir: Where tfds keeps prepared datasets; None for tfds' default. Ignored for
            offline datasets and image folders.
        download: Download and prepare a tfds dataset that is not prepared in `data_dir`.
        validation_split: For an image folder without an eval folder, the fraction of each
            class held out as its eval split, in (0, 1). Ignored for other datasets.

    Returns:
        (dataset, info): the dataset yields `(image uint8 [H, W, 3], label int64 [])`, unbatched
        and unshuffled; `info` describes the split.

    Raises:
        DatasetUnavailableError: the dataset is unknown, not prepared and `download` is False,
            or downloading/preparing it failed; an image folder is missing or unusable.
        ValueError: the dataset has no such split.
    """
    from deepnets.data import folders  # deferred: folders builds on this module

    if folders.is_image_folder(name):
        return folders.load_folder_split(name, split, validation_split)
    if name in offline.OFFLINE_DATASETS:
        return _load_offline(name, split)
    return _load_tfds(name, split, data_dir=data_dir, download=download)


def _load_offline(name: str, split: str) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads a split of an offline (generated) dataset."""
    images, labels = offline.shapes10_arrays(split)
    mean, std = _CHANNEL_STATS[name]
    info = DatasetInfo(
        name=name,
        split=split,
        num_classes=len(offline.SHAPES10_CLASS_NAMES),
        num_examples=len(labels),
        image_shape=offline.SHAPES10_IMAGE_SHAPE,
        class_names=offline.SHAPES10_CLASS_NAMES,
        mean=mean,
        std=std,
    )
    return tf.data.Dataset.from_tensor_slices((images, labels)), info


def _load_tfds(
    name: str, split: str, *, data_dir: str | None, download: bool
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads a split of a tfds dataset, preparing it first when allowed."""
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
                f"downloading and preparing it failed ({type(err).__name__}: {_first_line(err)})"
            )
            raise DatasetUnavailableError(_unavailable_message(name, root, reason)) from err

    if builder.info.supervised_keys is None:
        raise ValueError(f"tfds dataset {name!r} has no (image, label) supervised keys")
    image_key, label_key = builder.info.supervised_keys
    image_feature = builder.info.features[image_key]
    label_feature = builder.info.features[label_key]

    split = _resolve_split(name, split, builder.info)
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    dataset = dataset.map(_to_rgb_uint8_int64, num_parallel_calls=tf.data.AUTOTUNE)

    height, width, _ = image_feature.shape
    names = getattr(label_feature, "names", None)
    mean, std = _CHANNEL_STATS.get(_base_name(name), IMAGENET_STATS)
    info = DatasetInfo(
        name=name,
        split=split,
        num_classes=label_feature.num_classes,
        num_examples=_num_examples(name, split, builder.info, dataset),
        image_shape=(height, width, 3),
        class_names=tuple(names) if names else None,
        mean=mean,
        std=std,
    )
    return dataset, info


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


def _num_examples(
    name: str, split: str, info: tfds.core.DatasetInfo, dataset: tf.data.Dataset
) -> int:
    """Split size from the tfds metadata, else from the dataset's known cardinality."""
    if list(info.splits):
        return int(info.splits[split].num_examples)
    cardinality = int(dataset.cardinality())
    if cardinality < 0:
        raise ValueError(f"the size of split {split!r} of dataset {name!r} is unknown")
    return cardinality


def _to_rgb_uint8_int64(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Casts a tfds (image, label) pair to (uint8 [H, W, 3], int64 [])."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif image.shape.rank == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return tf.cast(image, tf.uint8), tf.cast(label, tf.int64)
