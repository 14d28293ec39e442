"""A tiny tfds dataset the tests prepare themselves, in a temporary data_dir (no network).

`prepare(data_dir)` writes it the way `tfds build` would, so the code under test reads it through
the real tfds path (`tfds.builder(name, data_dir=...)`), exactly like a downloaded dataset.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

NAME = "deepnets_tiny_colors"
CLASS_NAMES = ("red", "green", "blue")
SIZE = 16
SPLITS = {"train": 96, "test": 24}


class DeepnetsTinyColors(tfds.core.GeneratorBasedBuilder):
    """16x16 images whose class is the colour channel that dominates, plus noise."""

    VERSION = tfds.core.Version("1.0.0")
    # tfds looks for metadata files beside the builder's package; this module has none.
    pkg_dir_path = epath.Path(__file__).parent

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(SIZE, SIZE, 3)),
                    "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate_examples(split) for split in SPLITS}

    def _generate_examples(self, split):
        rng = np.random.default_rng(0 if split == "train" else 1)
        for index in range(SPLITS[split]):
            label = index % len(CLASS_NAMES)
            image = rng.integers(0, 120, (SIZE, SIZE, 3))
            image[..., label] += 120
            yield index, {"image": image.astype(np.uint8), "label": label}


def prepare(data_dir: str) -> str:
    """Prepares the dataset under `data_dir`; returns the dataset name."""
    DeepnetsTinyColors(data_dir=data_dir).download_and_prepare()
    return NAME
