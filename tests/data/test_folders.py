"""Image folders as datasets: layouts, the held-out split, skipped files and the errors."""

import random
import warnings

import numpy as np
import pytest
import tensorflow as tf
from folder_files import class_folders, jpeg, mixed_folder, pixels, truncated_jpeg, write

from deepnets.data import (
    DatasetFacts,
    DatasetUnavailableError,
    ImageFolderWarning,
    describe_dataset,
    is_image_folder,
    load_split,
    open_dataset,
)
from deepnets.data.folders import ImageFolder, hold_out
from deepnets.training import ConfigError, TrainConfig, plan_run


def describe(root, **kwargs):
    """describe_dataset, returning the facts and the ImageFolderWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        facts = describe_dataset(str(root), **kwargs)
    return facts, [w.message for w in caught if issubclass(w.category, ImageFolderWarning)]


def relative(root, paths):
    return sorted(str(p)[len(str(root)) + 1 :] for p in paths)


@pytest.fixture
def mixed(tmp_path):
    root = tmp_path / "zoo"
    return root, mixed_folder(root)


def test_mixed_folder_facts_classes_sizes_and_one_warning(mixed):
    root, files = mixed
    facts, caught = describe(root, image_size=24, validation_split=0.25)
    assert facts.class_names == ("cat", "dog", "owl") and facts.num_classes == 3
    assert (facts.train_split, facts.eval_split) == ("train", "validation")
    assert facts.validation_split == 0.25 and facts.folder == str(root)
    assert facts.train_examples + facts.eval_examples == len(files["good"]) == 15
    # round(n * 0.25) per class, half up: cat 6 -> 2 (1.5), dog 5 -> 1 (1.25), owl 4 -> 1.
    assert facts.eval_examples == 4
    assert len(caught) == 1
    warning = caught[0]
    assert relative(root, warning.skipped_files) == files["skipped"]
    assert warning.num_ignored == len(files["ignored"]) == 1
    assert "skipped 2 image file(s)" in str(warning) and "ignored 1 file(s)" in str(warning)
    assert str(root / "cat/truncated.jpg") in str(warning)
    assert relative(root, facts.skipped_files) == files["skipped"]
    assert facts.num_skipped_files == 2
    # Sizes differ: no fixed image shape, so the large-image policy at the asked size.
    assert facts.input_shape == (24, 24, 3)
    assert facts.preprocessing.train_augmentation == "random_resized_crop_flip"
    assert facts.preprocessing.mean == (0.485, 0.456, 0.406)


def test_held_out_and_training_files_are_disjoint_and_cover_every_good_file(mixed):
    root, files = mixed
    with pytest.warns(ImageFolderWarning, match="skipped 2"):  # reading it decodes all
        folder = ImageFolder(str(root), 0.25)
    train, held = folder.files("train"), folder.files("test")
    train_files, held_files = relative(root, train.paths), relative(root, held.paths)
    assert not set(train_files) & set(held_files)
    assert sorted(train_files + held_files) == files["good"]
    assert folder.resolve("test") == "validation" and folder.num_examples("test") == len(held_files)
    by_class = {name: sum(f.startswith(name) for f in held_files) for name in ("cat", "dog", "owl")}
    assert by_class == {"cat": 2, "dog": 1, "owl": 1}


def test_every_split_loads_rgb_uint8_images_with_their_labels(mixed):
    root, _ = mixed
    with pytest.warns(ImageFolderWarning):
        folder = ImageFolder(str(root))
    seen = {}
    for split in ("train", "validation"):
        names = [path[len(str(root)) + 1 :] for path in folder.files(split).paths]
        for path, (image, label) in zip(names, folder.examples(split), strict=True):
            assert image.dtype == tf.uint8 and image.shape[-1] == 3
            assert folder.class_names[int(label)] == path.split("/")[0]
            seen[path] = image.numpy()
    gray = seen["dog/gray.png"]
    assert gray.shape == (24, 24, 3) and (gray[..., 0] == gray[..., 2]).all()
    assert seen["dog/rgba.png"].shape == (40, 24, 3)
    np.testing.assert_array_equal(seen["owl/animated.gif"][0, 0], [255, 0, 0])  # frame 1
    assert seen["owl/bitmap.bmp"].shape == (28, 36, 3)


def test_held_out_part_does_not_depend_on_the_listing_order():
    rng = random.Random(0)
    files = [(f"c{c}/{i:04d}_{rng.random():.6f}.jpg", c) for c in range(4) for i in range(37)]
    relpaths, labels = zip(*files, strict=True)
    _, held = hold_out(relpaths, labels, 0.2)
    expected = {relpaths[i] for i in held}
    for _ in range(5):
        order = list(range(len(files)))
        rng.shuffle(order)
        shuffled = [files[i] for i in order]
        paths, classes = zip(*shuffled, strict=True)
        train, held = hold_out(paths, classes, 0.2)
        assert {paths[i] for i in held} == expected
        assert len(train) + len(held) == len(files) and not set(train) & set(held)
    assert len(expected) == 4 * 7  # round(37 * 0.2) = 7 of every class


def test_small_classes_hold_out_one_file_but_keep_one_for_training():
    relpaths = ("a/1.jpg", "a/2.jpg", "b/1.jpg", "c/1.jpg", "c/2.jpg", "c/3.jpg")
    labels = (0, 0, 1, 2, 2, 2)
    train, held = hold_out(relpaths, labels, 0.01)
    assert sorted(labels[i] for i in held) == [0, 2]  # one each; b's single file trains
    train, held = hold_out(relpaths, labels, 0.99)
    assert sorted(labels[i] for i in train) == [0, 1, 2]  # every class keeps one


def test_fixed_size_jpegs_get_the_small_image_policy(tmp_path):
    root = class_folders(tmp_path / "small", {"ant": 4, "bee": 3})
    facts, caught = describe(root)
    assert caught == []
    assert facts.input_shape == (32, 32, 3)
    assert facts.preprocessing.crop == "none"
    assert facts.preprocessing.train_augmentation == "pad_crop_flip"
    _, info = load_split(str(root), "train")
    assert info.image_shape == (32, 32, 3) and info.folder == str(root)


def test_split_folders_evaluate_on_val_before_validation_and_test(tmp_path):
    root = tmp_path / "splits"
    class_folders(root / "train", {"ant": 4, "bee": 5, "cow": 3})
    class_folders(root / "val", {"ant": 2, "bee": 1}, seed=50)
    class_folders(root / "test", {"ant": 3, "bee": 3, "cow": 3}, seed=90)
    write(root / "notes.txt", b"splits by hand\n")
    facts, _ = describe(root)
    assert facts.class_names == ("ant", "bee", "cow")
    assert (facts.eval_split, facts.validation_split) == ("val", None)
    assert (facts.train_examples, facts.eval_examples) == (12, 3)
    _, info = load_split(str(root), "val")
    assert info.eval_examples == 3 and info.class_names == facts.class_names
    labels = [int(label) for _, label in load_split(str(root), "test")[0]]
    assert labels == [0, 0, 1]  # eval folder labels follow the training class names


def test_split_folders_without_val_use_test_or_hold_out_of_train(tmp_path):
    root = tmp_path / "only_test"
    class_folders(root / "train", {"ant": 4, "bee": 4})
    class_folders(root / "test", {"ant": 2, "bee": 2})
    assert describe(root)[0].eval_split == "test"
    root = tmp_path / "only_train"  # like the shared CIFAR-10 archive: PATH/train/<class>/
    class_folders(root / "train", {"ant": 10, "bee": 10})
    facts, _ = describe(root, validation_split=0.3)
    assert (facts.eval_split, facts.validation_split) == ("validation", 0.3)
    assert (facts.train_examples, facts.eval_examples) == (14, 6)


def test_one_source_reads_the_folder_once_and_a_new_one_sees_changed_files(tmp_path):
    root = class_folders(tmp_path / "f", {"ant": 3, "bee": 3})
    write(root / "ant/broken.jpg", truncated_jpeg(1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = open_dataset(str(root), validation_split=0.5)
        facts = source.facts
        list(source.examples("train")), list(source.eval_dataset(2))
        list(source.train_dataset(2, seed=0).take(4))
    assert [type(w.message) for w in caught] == [ImageFolderWarning]  # read once, warned once
    assert facts.num_skipped_files == 1
    write(root / "bee/broken.png", b"not a png")
    facts, caught = describe(root)  # a new source reads the folder again
    assert len(caught) == 1 and len(caught[0].skipped_files) == 2
    assert facts.train_examples + facts.eval_examples == 6


def test_facts_round_trip_through_json_values(mixed):
    root, _ = mixed
    facts, _ = describe(root)
    values = facts.to_dict()
    assert values["num_skipped_files"] == 2 and isinstance(values["skipped_files"], list)
    assert values["image_shape"] == [None, None, 3]  # the images differ in size
    assert DatasetFacts.from_dict(values) == facts
    older = {  # a record of deepnets 0.2
        k: v for k, v in values.items() if k not in ("folder", "skipped_files", "image_shape")
    }
    assert DatasetFacts.from_dict(older).skipped_files == ()
    assert DatasetFacts.from_dict(older).image_shape is None


@pytest.mark.parametrize(
    "name, expected",
    [("./x", True), ("../x", True), ("/x", True), ("~/x", True), ("cifar10", False)],
)
def test_paths_name_image_folders(name, expected):
    assert is_image_folder(name) is expected


def test_an_existing_directory_is_an_image_folder(tmp_path, monkeypatch):
    class_folders(tmp_path / "pets", {"ant": 2, "bee": 2})
    monkeypatch.chdir(tmp_path)
    assert is_image_folder("pets")
    assert describe_dataset("pets").class_names == ("ant", "bee")


def _unusable(tmp_path, case):
    root = tmp_path / case
    if case == "missing":
        return root, str(root)
    if case == "a_file":
        write(root, b"x")
        return root, "is a file"
    if case == "empty_class":
        class_folders(root, {"ant": 3, "bee": 0, "cow": 2})
        return root, str(root / "bee")
    if case == "one_class":
        class_folders(root, {"ant": 3})
        return root, f"only {root / 'ant'}"
    if case == "no_images":
        write(root / "ant/readme.txt", b"x")
        write(root / "bee/readme.txt", b"x")
        return root, "no image files"
    if case == "no_class_folders":
        write(root / "loose.jpg", jpeg(pixels(8, 8, 0)))
        return root, "no class folders"
    if case == "nothing_decodes":
        class_folders(root, {"ant": 2})
        write(root / "bee/0.jpg", b"text")
        return root, f"class folder(s) {root / 'bee'} decodes"
    if case == "nothing_held_out":
        class_folders(root, {"ant": 1, "bee": 1})
        return root, "holds out no image"
    if case == "unknown_eval_class":
        class_folders(root / "train", {"ant": 2, "bee": 2})
        class_folders(root / "val", {"ant": 1, "yak": 1})
        return root, "yak"
    raise AssertionError(case)


UNUSABLE = [
    "missing",
    "a_file",
    "empty_class",
    "one_class",
    "no_images",
    "no_class_folders",
    "nothing_decodes",
    "nothing_held_out",
    "unknown_eval_class",
]


@pytest.mark.parametrize("case", UNUSABLE)
def test_unusable_folder_is_one_clear_error_naming_the_path(tmp_path, case):
    root, fragment = _unusable(tmp_path, case)
    with pytest.raises(DatasetUnavailableError) as caught:
        describe(root)
    message = str(caught.value)
    assert str(root) in message and fragment in message
    assert len(message) < 600


@pytest.mark.parametrize("case", ["empty_class", "one_class"])
def test_run_plan_blames_the_dataset_field(tmp_path, case):
    root, fragment = _unusable(tmp_path, case)
    cfg = TrainConfig(dataset=str(root), model_overrides={"stem": "cifar", "width": 8})
    with pytest.raises(ConfigError) as caught:
        plan_run(cfg, tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert caught.value.name == "dataset" and fragment in str(caught.value)


def test_unknown_split_and_bad_fraction_are_value_errors(tmp_path):
    root = class_folders(tmp_path / "f", {"ant": 3, "bee": 3})
    with pytest.raises(ValueError, match=r"splits 'train' and 'validation'.*got split 'val'"):
        load_split(str(root), "val")
    with pytest.raises(ValueError, match=r"got split 'val'"):
        open_dataset(str(root)).eval_dataset(4, split="val")
    with pytest.raises(ValueError, match="validation_split"):
        load_split(str(root), "train", validation_split=1.0)
