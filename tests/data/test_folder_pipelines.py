"""Train and eval pipelines over image folders: shapes, exact eval sets, caching across epochs,
and the real CIFAR-10 JPEGs when they are at hand."""

import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from folder_files import class_folders, mixed_folder

from deepnets.data import (
    Augmentation,
    ImageFolderWarning,
    describe_dataset,
    folder_scan,
    folders,
    make_eval_dataset,
    make_train_dataset,
    open_dataset,
    shards,
)
from deepnets.data.augment import alternating_flip
from deepnets.data.images import read_image

REPO_ROOT = Path(__file__).resolve().parents[2]
CIFAR10_JPEGS = REPO_ROOT.parent / "shared" / "data" / "cifar10-train-jpeg.tar.gz"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _context(num_pipelines: int, pipeline_id: int, num_replicas: int) -> tf.distribute.InputContext:
    return tf.distribute.InputContext(num_pipelines, pipeline_id, num_replicas)


@pytest.fixture
def zoo(tmp_path):
    """The mixed folder, opened once (its warning caught): (root, source)."""
    root = tmp_path / "zoo"
    mixed_folder(root)
    with pytest.warns(ImageFolderWarning):
        source = open_dataset(str(root), image_size=24, validation_split=0.25)
    return str(root), source


def test_train_batches_have_the_asked_shape_for_many_epochs_despite_bad_files(zoo):
    root, source = zoo
    facts = source.facts
    dataset = source.train_dataset(4, seed=0)
    batches = list(dataset.take(4 * facts.train_examples // 4 + 1))  # four epochs and more
    for images, labels in batches:
        assert images.shape == (4, 24, 24, 3) and images.dtype == tf.float32
        assert np.isfinite(images.numpy()).all()
        assert labels.shape == (4,) and set(labels.numpy()) <= {0, 1, 2}
    seen = np.concatenate([labels.numpy() for _, labels in batches])
    assert set(seen) == {0, 1, 2}


def test_eval_yields_exactly_the_readable_held_out_files_in_order(zoo):
    root, source = zoo
    facts = source.facts
    with pytest.warns(ImageFolderWarning):
        held = folders.ImageFolder(root, 0.25).files(facts.eval_split)
    expected = np.stack([facts.preprocessing(read_image(path)).numpy() for path in held.paths])
    dataset = source.eval_dataset(3)
    batches = list(dataset.as_numpy_iterator())
    assert [len(labels) for _, labels in batches] == [3, 1]
    assert all(images.shape[1:] == (24, 24, 3) for images, _ in batches)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), held.labels)
    np.testing.assert_allclose(np.concatenate([b[0] for b in batches]), expected, atol=1e-5)


def test_padded_eval_on_two_pipelines_counts_every_held_out_file_once(zoo):
    _, source = zoo
    facts = source.facts
    weights, step_counts = 0.0, []
    for pipeline_id in range(2):
        dataset = source.eval_dataset(
            4, input_context=_context(2, pipeline_id, 2), pad_to_full_batches=True
        )
        batches = list(dataset.as_numpy_iterator())
        step_counts.append(len(batches))
        assert all(images.shape == (2, 24, 24, 3) for images, _, _ in batches)
        weights += sum(w.sum() for _, _, w in batches)
    assert weights == facts.eval_examples == 4 and step_counts[0] == step_counts[1]


def test_same_seed_same_batches_from_a_folder(tmp_path):
    root = str(class_folders(tmp_path / "f", {"ant": 9, "bee": 7, "cow": 8}))
    first, second = (
        [b[1].numpy() for b in make_train_dataset(root, 4, seed=3, cache=c).take(6)]
        for c in (True, True)
    )
    np.testing.assert_array_equal(first, second)


def _counting_decodes(monkeypatch) -> list[int]:
    """Counts the images the pipelines decode (not the describe pass)."""
    count = [0]

    def counted(path):
        count[0] += 1
        return path

    def counting_read_image(path):
        path = tf.py_function(counted, [path], tf.string)
        path.set_shape([])
        return read_image(path)

    monkeypatch.setattr(folders, "read_image", counting_read_image)
    return count


@pytest.mark.parametrize("cache, decodes_after_first_epoch", [(True, 0), ("auto", 0), (False, 1)])
def test_the_cache_outlives_the_pipeline_of_one_epoch(
    tmp_path, monkeypatch, cache, decodes_after_first_epoch
):
    """Like the training loop: a new pipeline per epoch, under a strategy, each epoch read whole."""
    root = str(class_folders(tmp_path / "f", {"ant": 20, "bee": 20}, size=8))
    source = open_dataset(root, validation_split=0.2)  # its pipelines share its cache
    facts = source.facts
    count = _counting_decodes(monkeypatch)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    steps = facts.train_examples // 8
    per_epoch = []
    for epoch in range(3):

        def dataset_fn(ctx, epoch=epoch):
            dataset = source.train_dataset(8, input_context=ctx, seed=epoch, cache=cache)
            return dataset.take(steps)

        before = count[0]
        batches = list(strategy.distribute_datasets_from_function(dataset_fn))
        assert len(batches) == steps
        per_epoch.append(count[0] - before)
    assert per_epoch[0] >= facts.train_examples == 32
    # Without a cache each epoch decodes its images again (and a few ahead of the last batch).
    assert all(d >= decodes_after_first_epoch * 32 for d in per_epoch[1:])
    if not decodes_after_first_epoch:
        assert per_epoch[1:] == [0, 0]


def test_a_new_source_starts_with_an_empty_cache(tmp_path, monkeypatch):
    root = str(class_folders(tmp_path / "f", {"ant": 8, "bee": 8}, size=8))
    first, second = (open_dataset(root, validation_split=0.25) for _ in range(2))
    count = _counting_decodes(monkeypatch)
    epoch = first.facts.train_examples // 4
    for source in (first, first, second):  # two epochs of one source, then another source
        list(source.train_dataset(4, seed=0, cache=True).take(epoch))
    assert count[0] == 2 * first.facts.train_examples  # the second epoch read the cache


def test_one_source_reads_the_folder_once_for_its_facts_examples_and_pipelines(
    tmp_path, monkeypatch
):
    root = str(class_folders(tmp_path / "f", {"ant": 6, "bee": 6}, size=8))
    reads = []
    decodable_files = folder_scan.decodable_files
    monkeypatch.setattr(
        folder_scan, "decodable_files", lambda paths: reads.append(paths) or decodable_files(paths)
    )
    source = open_dataset(root, validation_split=0.25)
    facts = source.facts
    for epoch in range(2):
        list(source.train_dataset(4, seed=epoch, cache=False).take(3))
    list(source.eval_dataset(4, pad_to_full_batches=True))
    list(source.examples("train"))
    assert source.num_examples("test") == facts.eval_examples == 4
    assert len(reads) == 1 and len(reads[0]) == 12  # one decode pass over the 12 files
    open_dataset(root)
    assert len(reads) == 2  # another source reads the folder again


def test_auto_caches_fixed_size_images_up_to_two_gib_and_never_variable_sizes():
    assert shards.cache_decision("auto", (32, 32, 3), 50_000)
    assert shards.cache_decision("auto", (224, 224, 3), 14_000)  # 1.96 GiB
    assert not shards.cache_decision("auto", (224, 224, 3), 15_000)  # 2.10 GiB
    assert not shards.cache_decision("auto", (None, None, 3), 10)
    assert shards.cache_decision(True, (None, None, 3), 10)
    assert not shards.cache_decision(False, (32, 32, 3), 10)
    with pytest.raises(ValueError, match="cache"):
        shards.cache_decision("yes", (32, 32, 3), 10)


@pytest.fixture(scope="module")
def cifar10_folder(tmp_path_factory):
    if not CIFAR10_JPEGS.exists():
        pytest.skip(f"{CIFAR10_JPEGS} is not here (the shared CIFAR-10 JPEGs; see its README)")
    root = tmp_path_factory.mktemp("cifar10_jpeg")
    with tarfile.open(CIFAR10_JPEGS) as archive:
        archive.extractall(root, filter="data")
    return str(root)


def test_real_cifar10_jpegs_describe_and_batch(cifar10_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageFolderWarning)  # all 50,000 files decode
        facts = describe_dataset(cifar10_folder)
    assert facts.class_names == CIFAR10_CLASSES
    assert (facts.train_examples, facts.eval_examples) == (45_000, 5_000)
    assert facts.eval_split == "validation" and facts.num_skipped_files == 0
    assert facts.input_shape == (32, 32, 3)
    assert facts.preprocessing.train_augmentation == "pad_crop_flip"
    train = make_train_dataset(cifar10_folder, 128, seed=0, cache=False)
    for images, labels in train.take(3):
        assert images.shape == (128, 32, 32, 3) and labels.shape == (128,)
        assert len(set(labels.numpy())) >= 8  # the classes are mixed, not read class by class
    images, labels = next(iter(make_eval_dataset(cifar10_folder, 500, split="validation")))
    assert images.shape == (500, 32, 32, 3) and set(labels.numpy()) == {0}


def _mirrored_in_epoch(root: str, originals: np.ndarray, epoch: int, cache: bool) -> list[bool]:
    """For one epoch of alternating flips: whether each original was mirrored (by its index)."""
    augmentation = Augmentation(crop_padding=0, flip="alternate")
    dataset = make_train_dataset(
        root, 1, seed=10 + epoch, cache=cache, augmentation=augmentation, epoch=epoch, flip_seed=7
    )
    mirrored: dict[int, bool] = {}
    for images, _ in dataset.take(len(originals)):
        image = images.numpy()[0]
        as_is = np.abs(originals - image).max(axis=(1, 2, 3))
        as_mirror = np.abs(originals[:, :, ::-1] - image).max(axis=(1, 2, 3))
        index = int(np.argmin(np.minimum(as_is, as_mirror)))
        assert min(as_is[index], as_mirror[index]) < 1e-4, "not an original or its mirror"
        assert index not in mirrored, "an example came twice in one epoch"
        mirrored[index] = bool(as_mirror[index] < as_is[index])
    return [mirrored[i] for i in range(len(originals))]


@pytest.mark.parametrize("cache", [True, False])
def test_alternating_flips_mirror_every_example_in_exactly_one_of_two_epochs(tmp_path, cache):
    root = str(class_folders(tmp_path / "f", {"ant": 12, "bee": 12}, seed=4))
    plain = make_train_dataset(root, 1, seed=0, augment=False, cache=cache).take(200)
    unique = {images.numpy()[0].tobytes(): images.numpy()[0] for images, _ in plain}
    originals = np.stack(list(unique.values()))
    epochs = [_mirrored_in_epoch(root, originals, epoch, cache) for epoch in range(3)]
    assert all(first != second for first, second in zip(epochs[0], epochs[1], strict=True))
    assert epochs[2] == epochs[0]
    assert 0.25 <= np.mean(epochs[0]) <= 0.75  # a random half, not all or none


def test_alternating_flip_is_a_coin_fixed_by_the_example_and_turned_over_each_epoch():
    seeds = [tf.constant([7, i], tf.int64) for i in range(400)]
    even = [bool(alternating_flip(seed, 0)) for seed in seeds]
    assert [bool(alternating_flip(seed, 1)) for seed in seeds] == [not f for f in even]
    assert [bool(alternating_flip(seed, 4)) for seed in seeds] == even
    assert 160 <= sum(even) <= 240
    with pytest.raises(ValueError, match="flip.*'random', 'alternate'"):
        Augmentation(flip="sideways")
