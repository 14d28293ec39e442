"""Prepare tfds' `cifar100` in a data_dir from CIFAR-100 image folders, without network.

    python -m experiments.cifar100_tfds --folder=data/c100 --data_dir=data/tfds

The folder holds `train/<fine label>/*.png` and `test/<fine label>/*.png` (32x32 RGB; class
folders named by CIFAR-100's fine labels, e.g. "aquarium_fish"). This writes them in the layout
of the official cifar-100-binary archive (one record per image: coarse label byte, fine label
byte, 3,072 bytes of planar RGB; the label-name files) and lets tfds' own `Cifar100` builder
prepare it, so that `tfds.builder("cifar100", data_dir=DATA_DIR)` (and so `deepnets-train
--dataset=cifar100 --data_dir=DATA_DIR`) loads it as it loads the downloaded dataset: the same
features (image, label with the official fine-label names in the official order, coarse_label,
id) and splits, with train = the folder's train/ and test = its test/. Only the download is
replaced (the archive's checksum is registered in tfds, so a local archive would be refused).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow_datasets as tfds
from absl import flags
from PIL import Image
from tensorflow_datasets.image_classification import cifar

from trainers.cli import fail, run_binary

PROGRAM = "cifar100-tfds"
FLAGS = flags.FLAGS

# CIFAR-100's superclasses (coarse labels) and their five classes each; both lists are in the
# order of the official archive's label-name files (alphabetical), which tfds takes its names from.
FINE_BY_COARSE = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
COARSE_NAMES = tuple(FINE_BY_COARSE)
FINE_NAMES = tuple(sorted(name for names in FINE_BY_COARSE.values() for name in names))
COARSE_OF_FINE = {
    fine: COARSE_NAMES.index(coarse) for coarse, names in FINE_BY_COARSE.items() for fine in names
}
# The archive's layout, as tfds' Cifar100._cifar_info expects it.
ARCHIVE_PREFIX = "cifar-100-binary"
SPLIT_FILES = {"train": "train.bin", "test": "test.bin"}


def write_binary(folder: str, output_dir: str) -> dict[str, int]:
    """Writes `output_dir/cifar-100-binary/` (the official archive's layout) from the folder.

    Args:
        folder: holds train/ and test/, each with class folders named by fine labels.
        output_dir: where cifar-100-binary/ goes.

    Returns:
        The number of images written by split.

    Raises:
        ValueError: a split folder is missing, a class folder is not a CIFAR-100 fine label, or
            an image is not 32x32 RGB.
    """
    target = os.path.join(output_dir, ARCHIVE_PREFIX)
    os.makedirs(target, exist_ok=True)
    for filename, names in (
        ("coarse_label_names.txt", COARSE_NAMES),
        ("fine_label_names.txt", FINE_NAMES),
    ):
        with open(os.path.join(target, filename), "w") as f:
            f.write("\n".join(names) + "\n")
    counts = {}
    for split, filename in SPLIT_FILES.items():
        root = os.path.join(folder, split)
        if not os.path.isdir(root):
            raise ValueError(f"folder={folder!r} has no {split}/ folder; give train/ and test/")
        classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        unknown = sorted(set(classes) - set(FINE_NAMES))
        if unknown:
            raise ValueError(
                f"{root}: class folders {unknown[:5]} are not CIFAR-100 fine labels; name the "
                f"folders by fine label (e.g. {FINE_NAMES[:3]})"
            )
        counts[split] = 0
        with open(os.path.join(target, filename), "wb") as out:
            for name in classes:
                labels = bytes((COARSE_OF_FINE[name], FINE_NAMES.index(name)))
                for file in sorted(os.listdir(os.path.join(root, name))):
                    path = os.path.join(root, name, file)
                    with Image.open(path) as image:
                        pixels = np.asarray(image.convert("RGB"))
                    if pixels.shape != (32, 32, 3):
                        raise ValueError(f"{path}: {pixels.shape[:2]} pixels; need 32x32")
                    out.write(labels + pixels.transpose(2, 0, 1).tobytes())
                    counts[split] += 1
    return counts


class _Extracted:
    """Stands in for tfds' download manager: the archive is already extracted at `path`."""

    def __init__(self, path: str):
        self.path = path

    def download_and_extract(self, url: str) -> str:
        del url
        return self.path


class FolderCifar100(cifar.Cifar100, skip_registration=True):
    """tfds' Cifar100 builder reading a locally written cifar-100-binary layout."""

    name = "cifar100"
    pkg_dir_path = cifar.Cifar100._get_pkg_dir_path()

    def __init__(self, *, extracted_dir: str, **kwargs):
        self._extracted_dir = extracted_dir
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager
        return super()._split_generators(_Extracted(self._extracted_dir))


def prepare(folder: str, data_dir: str) -> dict[str, int]:
    """Prepares tfds' `cifar100` in `data_dir` from the image folder.

    Args:
        folder: holds train/ and test/ class folders of 32x32 PNGs named by fine labels.
        data_dir: the tfds data_dir to prepare it in.

    Returns:
        The number of examples by split, as `tfds.builder("cifar100", data_dir=...)` sees them.
    """
    with tempfile.TemporaryDirectory(prefix="cifar100_binary_") as extracted:
        write_binary(folder, extracted)
        FolderCifar100(extracted_dir=extracted, data_dir=data_dir).download_and_prepare()
    splits = tfds.builder("cifar100", data_dir=data_dir).info.splits
    return {name: splits[name].num_examples for name in SPLIT_FILES}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.folder or not os.path.isdir(FLAGS.folder):
        fail(PROGRAM, f"--folder={FLAGS.folder!r}: no such folder; give one with train/ and test/")
    if not FLAGS.data_dir:
        fail(PROGRAM, "--data_dir: give the tfds data_dir to prepare cifar100 in")
    try:
        counts = prepare(FLAGS.folder, FLAGS.data_dir)
    except ValueError as err:
        fail(PROGRAM, str(err))
    print(
        f"Prepared cifar100 in {FLAGS.data_dir}: {counts['train']} train and {counts['test']} "
        "test examples.",
        flush=True,
    )


def define_flags() -> None:
    """The program's flags, defined when it runs (not on import: tests import `prepare`, and
    other programs' flags share these names)."""
    flags.DEFINE_string("folder", None, "Folder with train/ and test/ class folders of PNGs.")
    flags.DEFINE_string("data_dir", None, "tfds data_dir to prepare cifar100 in (created).")


def run() -> None:
    """Entry point (python -m experiments.cifar100_tfds)."""
    define_flags()
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
