"""experiments.cifar100_tfds: tfds' own cifar100 prepared from image folders, read as tfds reads
the downloaded dataset; a run on either records the fine-label names of the labels it trains with.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.image_classification import cifar

from deepnets.training import TrainConfig, plan_run
from deepnets.training.run_folder.run_record import RunRecord
from experiments.cifar100_tfds import (
    COARSE_NAMES,
    FINE_BY_COARSE,
    FINE_NAMES,
    prepare,
    write_binary,
)

# Folder order (alphabetical) and tfds' label order differ in index: 0, 1, 2 against 0, 1, 95.
CLASSES = ("apple", "aquarium_fish", "whale")
COUNTS = {"train": 2, "test": 1}
ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tiny CIFAR-100-named folder, tfds' cifar100 prepared from it, and its pixels by name."""
    folder = tmp_path_factory.mktemp("c100")
    rng = np.random.default_rng(0)
    names_of = {}
    for split, count in COUNTS.items():
        for name in CLASSES:
            (folder / split / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / split / name / f"{index}.png")
                names_of[pixels.tobytes()] = (split, name)
    data_dir = tmp_path_factory.mktemp("tfds")
    counts = prepare(str(folder), str(data_dir))
    return str(folder), str(data_dir), counts, names_of


def test_the_names_and_the_coarse_mapping_are_cifar100s():
    assert len(FINE_NAMES) == 100 and len(set(FINE_NAMES)) == 100 and len(COARSE_NAMES) == 20
    assert FINE_NAMES[:3] == ("apple", "aquarium_fish", "baby") and FINE_NAMES[-1] == "worm"
    # The official coarse label of the first fine labels (apple, aquarium_fish, baby, bear).
    coarse = {fine: COARSE_NAMES.index(c) for c, names in FINE_BY_COARSE.items() for fine in names}
    assert [coarse[name] for name in FINE_NAMES[:4]] == [4, 1, 14, 8]


def test_tfds_loads_the_folder_as_its_own_cifar100_with_the_same_membership(prepared):
    _, data_dir, counts, names_of = prepared
    assert counts == {split: count * len(CLASSES) for split, count in COUNTS.items()}
    builder = tfds.builder("cifar100", data_dir=data_dir)
    assert type(builder) is cifar.Cifar100 and builder.is_prepared()
    features = builder.info.features
    assert set(features) == {"image", "label", "coarse_label", "id"}
    assert tuple(features["label"].names) == FINE_NAMES
    assert tuple(features["coarse_label"].names) == COARSE_NAMES
    for split in COUNTS:
        seen = []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            name = features["label"].int2str(example["label"])
            assert names_of[example["image"].tobytes()] == (split, name)
            coarse = features["coarse_label"].int2str(example["coarse_label"])
            assert name in FINE_BY_COARSE[coarse]
            seen.append(example["id"].decode())
        assert sorted(seen) == [f"{split}_{index:05d}" for index in range(counts[split])]


def test_a_run_on_either_records_the_names_of_its_labels(prepared):
    folder, data_dir, *_ = prepared
    common = {"model_overrides": {"stem": "cifar", "width": 4}, "epochs": 1, "global_batch_size": 2}
    on_folder = plan_run(TrainConfig(dataset=folder, **common), ONE_DEVICE)
    on_tfds = plan_run(
        TrainConfig(dataset="cifar100", data_dir=data_dir, download=False, **common), ONE_DEVICE
    )
    folder_names = RunRecord.from_plan(on_folder).to_dict()["dataset"]["class_names"]
    tfds_names = RunRecord.from_plan(on_tfds).to_dict()["dataset"]["class_names"]
    assert folder_names == list(CLASSES) and tfds_names == list(FINE_NAMES)
    assert on_folder.dataset.num_classes == 3 and on_tfds.dataset.num_classes == 100
    # Each path's label for a class is where its run record lists that class's name.
    eval_labels = tfds.as_numpy(
        tfds.builder("cifar100", data_dir=data_dir).as_dataset(split="test", as_supervised=True)
    )
    assert sorted(tfds_names[label] for _, label in eval_labels) == list(CLASSES)


def test_importing_it_defines_no_flags_so_other_programs_can():
    from absl import flags

    assert "folder" not in flags.FLAGS and "data_dir" not in flags.FLAGS


def test_folders_not_named_by_fine_labels_are_refused(tmp_path):
    (tmp_path / "train" / "kitten").mkdir(parents=True)
    (tmp_path / "test").mkdir()
    with pytest.raises(ValueError, match=r"\['kitten'\] are not CIFAR-100 fine labels"):
        write_binary(str(tmp_path), str(tmp_path / "out"))
