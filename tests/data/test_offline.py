"""shapes10: shapes, determinism, balance, statistics, masks, and that it is not trivially
separable."""

import hashlib

import numpy as np
import pytest

from deepnets.data import (
    OFFLINE_DATASETS,
    SHAPES10_CLASS_NAMES,
    generate_shapes10,
    offline,
    shapes10_arrays,
    shapes10_sample,
)


def test_splits_have_cifar_shapes_and_dtypes():
    for split, size in [("train", 10_000), ("test", 2_000)]:
        images, labels = shapes10_arrays(split)
        assert images.shape == (size, 32, 32, 3)
        assert images.dtype == np.uint8
        assert labels.shape == (size,)
        assert labels.dtype == np.int64
        assert labels.min() == 0 and labels.max() == 9
    assert "shapes10" in OFFLINE_DATASETS
    assert len(SHAPES10_CLASS_NAMES) == 10 == len(set(SHAPES10_CLASS_NAMES))


def test_every_class_has_the_same_number_of_examples():
    _, train_labels = shapes10_arrays("train")
    _, test_labels = shapes10_arrays("test")
    np.testing.assert_array_equal(np.bincount(train_labels, minlength=10), [1000] * 10)
    np.testing.assert_array_equal(np.bincount(test_labels, minlength=10), [200] * 10)


def test_generation_is_a_pure_function_of_the_seed():
    images_a, labels_a = generate_shapes10(50, seed=7)
    images_b, labels_b = generate_shapes10(50, seed=7)
    images_c, _ = generate_shapes10(50, seed=8)
    np.testing.assert_array_equal(images_a, images_b)
    np.testing.assert_array_equal(labels_a, labels_b)
    assert not np.array_equal(images_a, images_c)


def test_the_splits_are_the_images_recorded_results_were_made_with():
    # Drawn here, not read from the disk cache: the drawing itself must not have changed.
    images, labels = generate_shapes10(2_000, offline._SPLIT_SEEDS["test"])
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    assert digest == "feeeb0368000b6b7b6b26139c72a41473d59a6317722998fbfeb4599fd029ae6"
    cached_images, cached_labels = shapes10_arrays("test")
    np.testing.assert_array_equal(cached_images, images)
    np.testing.assert_array_equal(cached_labels, labels)


def test_a_new_process_reads_the_splits_from_the_disk_cache_and_redraws_a_damaged_one(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DEEPNETS_CACHE_DIR", str(tmp_path))
    drawn = []
    draw = offline.generate_shapes10

    def counting(num_examples, seed):
        drawn.append(num_examples)
        return draw(num_examples, seed)

    monkeypatch.setattr(offline, "generate_shapes10", counting)
    offline.shapes10_arrays.cache_clear()  # as in a new process
    try:
        images, labels = offline.shapes10_arrays("test")
        (path,) = tmp_path.glob("shapes10-test-*.npz")
        offline.shapes10_arrays.cache_clear()
        again, again_labels = offline.shapes10_arrays("test")
        assert drawn == [2_000]  # the second read came from the file
        np.testing.assert_array_equal(again, images)
        np.testing.assert_array_equal(again_labels, labels)
        assert not again.flags.writeable
        path.write_bytes(b"not an npz file")  # damaged: drawn again and rewritten
        offline.shapes10_arrays.cache_clear()
        redrawn, _ = offline.shapes10_arrays("test")
        np.testing.assert_array_equal(redrawn, images)
        assert drawn == [2_000, 2_000] and path.stat().st_size > 1_000_000
        # A cache directory that cannot be written costs the drawing, nothing else.
        monkeypatch.setenv("DEEPNETS_CACHE_DIR", str(path))  # a file, not a directory
        offline.shapes10_arrays.cache_clear()
        np.testing.assert_array_equal(offline.shapes10_arrays("test")[0], images)
        assert drawn == [2_000] * 3
        # Without readable source (no key for the cache) the split is drawn and not stored.
        monkeypatch.setenv("DEEPNETS_CACHE_DIR", str(tmp_path / "sourceless"))

        def no_source(_):
            raise OSError("could not get source code")

        monkeypatch.setattr(offline.inspect, "getsource", no_source)
        offline.shapes10_arrays.cache_clear()
        np.testing.assert_array_equal(offline.shapes10_arrays("test")[0], images)
        assert drawn == [2_000] * 4 and not (tmp_path / "sourceless").exists()
    finally:
        offline.shapes10_arrays.cache_clear()


def test_the_masks_come_with_the_same_images_and_mark_the_shapes():
    images, labels = generate_shapes10(60, seed=3)
    sample = shapes10_sample(60, seed=3)
    np.testing.assert_array_equal(sample.images, images)
    np.testing.assert_array_equal(sample.labels, labels)
    assert sample.masks.shape == (60, 32, 32) and sample.masks.dtype == np.float32
    assert sample.masks.min() >= 0.0 and sample.masks.max() <= 1.0
    # Every channel of the foreground is 0.2..0.8 away from the background's (0.1 on average
    # where a texture's gaps show the background): the colour inside the mask differs.
    inside = sample.masks[..., None] > 0.5
    pixels = images.astype(np.float32)
    mean_in = (pixels * inside).sum(axis=(1, 2)) / inside.sum(axis=(1, 2))
    mean_out = (pixels * ~inside).sum(axis=(1, 2)) / (~inside).sum(axis=(1, 2))
    assert np.abs(mean_in - mean_out).max(axis=1).min() > 20


def test_splits_are_cached_read_only_and_distinct():
    images, labels = shapes10_arrays("train")
    again, _ = shapes10_arrays("train")
    assert again is images
    assert not images.flags.writeable and not labels.flags.writeable
    test_images, _ = shapes10_arrays("test")
    assert not np.array_equal(images[:100], test_images[:100])


def test_images_use_the_whole_intensity_range_and_vary():
    images, _ = shapes10_arrays("test")
    assert images.min() == 0 and images.max() == 255
    # No two test images are the same (random colours, positions and noise).
    flat = images.reshape(len(images), -1)
    assert len(np.unique(flat, axis=0)) == len(images)


def test_published_channel_statistics_match_the_train_split():
    images, _ = shapes10_arrays("train")
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    np.testing.assert_allclose(pixels.mean(axis=0), offline.SHAPES10_MEAN, atol=1e-4)
    np.testing.assert_allclose(pixels.std(axis=0), offline.SHAPES10_STD, atol=1e-4)


def test_nearest_class_mean_on_pixels_is_near_chance():
    """Colour and position carry no class information: a pixel template matcher fails."""
    train_images, train_labels = shapes10_arrays("train")
    test_images, test_labels = shapes10_arrays("test")
    train = train_images.reshape(len(train_images), -1).astype(np.float32) / 255.0
    test = test_images.reshape(len(test_images), -1).astype(np.float32) / 255.0
    centroids = np.stack([train[train_labels == k].mean(axis=0) for k in range(10)])
    distances = (
        (test**2).sum(axis=1, keepdims=True) - 2 * test @ centroids.T + (centroids**2).sum(axis=1)
    )
    accuracy = float((distances.argmin(axis=1) == test_labels).mean())
    print(f"nearest-class-mean accuracy on shapes10: {accuracy:.3f}")
    assert accuracy < 0.25


def test_unknown_split_and_negative_size_are_rejected():
    with pytest.raises(ValueError, match="validation"):
        shapes10_arrays("validation")
    with pytest.raises(ValueError, match="num_examples"):
        generate_shapes10(-1, seed=0)
