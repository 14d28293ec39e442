"""make_train_dataset / make_eval_dataset on shapes10 and on mocked tfds datasets."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from deepnets.data import (
    Preprocessing,
    augment_image,
    make_eval_dataset,
    make_train_dataset,
    shapes10_arrays,
)


def _context(num_pipelines: int, pipeline_id: int, num_replicas: int) -> tf.distribute.InputContext:
    return tf.distribute.InputContext(
        num_input_pipelines=num_pipelines,
        input_pipeline_id=pipeline_id,
        num_replicas_in_sync=num_replicas,
    )


def _batches(dataset: tf.data.Dataset, count: int) -> list[tuple[np.ndarray, ...]]:
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(count)]


def test_train_batches_are_normalized_float32_nhwc_of_per_replica_size():
    dataset = make_train_dataset("shapes10", 64, input_context=_context(1, 0, 4), seed=0)
    images, labels = next(iter(dataset))
    assert images.shape == (16, 32, 32, 3) and images.dtype == tf.float32
    assert labels.shape == (16,) and labels.dtype == tf.int32


def test_same_seed_gives_identical_batches_and_another_seed_does_not():
    first = _batches(make_train_dataset("shapes10", 32, seed=123, shuffle_buffer=500), 3)
    second = _batches(make_train_dataset("shapes10", 32, seed=123, shuffle_buffer=500), 3)
    other = _batches(make_train_dataset("shapes10", 32, seed=124, shuffle_buffer=500), 3)
    for (images_a, labels_a), (images_b, labels_b) in zip(first, second, strict=True):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)
    assert not np.array_equal(first[0][0], other[0][0])


def _pad_crop(size=32):
    return Preprocessing((size, size), (0.5,) * 3, (0.25,) * 3, train_augmentation="pad_crop_flip")


def _find_window(padded, crop):
    """The (dy, dx, flipped) for which `crop` is a window of `padded` (or its mirror), or None."""
    size = crop.shape[0]
    for flipped in (False, True):
        target = crop[:, ::-1] if flipped else crop
        for dy in range(padded.shape[0] - size + 1):
            for dx in range(padded.shape[1] - size + 1):
                if np.array_equal(padded[dy : dy + size, dx : dx + size], target):
                    return dy, dx, flipped
    return None


def test_pad_crop_flip_is_a_window_of_the_reflect_padded_image_or_its_mirror():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    found = []
    for seed in range(24):
        out = augment_image(tf.constant(image), tf.constant([seed, 7], tf.int64), _pad_crop())
        assert out.shape == (32, 32, 3) and out.dtype == tf.float32
        window = _find_window(padded, out.numpy().astype(np.uint8))
        assert window is not None, f"seed {seed}: not a window of the padded image"
        found.append(window)
    offsets = {(dy, dx) for dy, dx, _ in found}
    flips = [flipped for _, _, flipped in found]
    assert all(0 <= dy <= 8 and 0 <= dx <= 8 for dy, dx in offsets)
    assert len(offsets) > 10  # the offsets vary over the 9 x 9 possible ones
    assert 4 <= sum(flips) <= 20  # about half the crops are mirrored


@pytest.mark.parametrize("padding", [0, 2])
def test_crop_padding_bounds_the_shift(padding):
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)), mode="reflect")
    offsets = set()
    for seed in range(16):
        seed = tf.constant([seed, 3], tf.int64)
        out = augment_image(tf.constant(image), seed, _pad_crop(), crop_padding=padding)
        window = _find_window(padded, out.numpy().astype(np.uint8))
        assert window is not None
        offsets.add(window[:2])
    assert offsets <= {(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)}
    assert len(offsets) > (1 if padding else 0)


def test_random_resized_crop_takes_a_box_of_the_image_and_may_mirror_it():
    # Channel 0 holds the column, channel 1 the row: a crop keeps both ordered.
    columns, rows = np.meshgrid(np.arange(200), np.arange(160))
    image = np.stack([columns, rows, np.zeros_like(rows)], axis=-1).astype(np.float32)
    image = tf.constant(np.round(image * 255 / 199).astype(np.uint8))
    recipe = Preprocessing(
        (48, 48), (0.5,) * 3, (0.25,) * 3, "central", train_augmentation="random_resized_crop_flip"
    )
    directions = []
    for seed in range(12):
        out = augment_image(image, tf.constant([seed, 1], tf.int64), recipe).numpy()
        assert out.shape == (48, 48, 3)
        along_x = np.diff(out[24, :, 0])
        down_y = np.diff(out[:, 24, 1])
        assert (down_y >= -1).all() and out[-1, 24, 1] > out[0, 24, 1]  # rows stay in order
        increasing, decreasing = (along_x >= -1).all(), (along_x <= 1).all()
        assert increasing or decreasing
        directions.append(bool(increasing and out[24, -1, 0] > out[24, 0, 0]))
        # A box of at least 8% of the area: it spans a good part of the image's columns.
        assert abs(out[24, -1, 0] - out[24, 0, 0]) > 255 * 0.08
    assert 2 <= sum(directions) <= 10  # some crops are mirrored, some not


def test_same_order_with_and_without_augmentation():
    plain = _batches(make_train_dataset("shapes10", 256, seed=5, augment=False), 1)[0]
    augmented = _batches(make_train_dataset("shapes10", 256, seed=5), 1)[0]
    np.testing.assert_array_equal(plain[1], augmented[1])  # the seed fixes the order
    assert not np.allclose(plain[0], augmented[0])


def test_normalization_gives_zero_mean_unit_std_per_channel_on_the_train_split():
    dataset = make_eval_dataset("shapes10", 1000, split="train")
    images = np.concatenate([images for images, _ in dataset.as_numpy_iterator()])
    assert images.shape == (10_000, 32, 32, 3)
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(pixels.mean(axis=0), 0.0, atol=2e-3)
    np.testing.assert_allclose(pixels.std(axis=0), 1.0, atol=2e-3)


def test_global_batch_not_divisible_by_replicas_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"global_batch_size=10 .*replicas.*\(3\)"):
        make_train_dataset("shapes10", 10, input_context=_context(1, 0, 3))
    with pytest.raises(ValueError, match="global_batch_size"):
        make_eval_dataset("shapes10", 0)


def test_eval_keeps_every_example_once_in_order_with_a_partial_last_batch():
    dataset = make_eval_dataset("shapes10", 96)
    sizes = [len(labels) for _, labels in dataset.as_numpy_iterator()]
    assert sizes == [96] * 20 + [80]
    labels = np.concatenate([labels for _, labels in dataset.as_numpy_iterator()])
    np.testing.assert_array_equal(labels, shapes10_arrays("test")[1])


def test_padded_eval_on_two_pipelines_covers_every_example_once_in_full_batches():
    """Two workers x two replicas: both pipelines run the same number of full batches."""
    seen, step_counts = [], []
    for pipeline_id in range(2):
        dataset = make_eval_dataset(
            "shapes10", 96, input_context=_context(2, pipeline_id, 4), pad_to_full_batches=True
        )
        batches = list(dataset.as_numpy_iterator())
        step_counts.append(len(batches))
        for images, _, weights in batches:
            assert images.shape == (24, 32, 32, 3) and weights.shape == (24,)
            seen.append(images[weights == 1.0].reshape(-1, 32 * 32 * 3).sum(axis=1))
            assert set(np.unique(weights)) <= {0.0, 1.0}
    assert step_counts[0] == step_counts[1] and step_counts[0] % 2 == 0
    checksums = np.concatenate(seen)
    assert len(checksums) == 2000
    # Shards are disjoint and complete: every test image appears exactly once.
    reference = np.concatenate(
        [
            images.reshape(-1, 32 * 32 * 3).sum(axis=1)
            for images, _ in make_eval_dataset("shapes10", 500).as_numpy_iterator()
        ]
    )
    np.testing.assert_allclose(np.sort(checksums), np.sort(reference), rtol=1e-6)


def test_image_size_resizes_small_images():
    train = make_train_dataset("shapes10", 8, image_size=40, seed=1)
    evaluation = make_eval_dataset("shapes10", 8, image_size=24)
    assert next(iter(train))[0].shape == (8, 40, 40, 3)
    assert next(iter(evaluation))[0].shape == (8, 24, 24, 3)


def test_variable_size_dataset_gets_random_resized_crops_and_central_eval_crops(tmp_path):
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        train = make_train_dataset("imagenette", 4, image_size=64, data_dir=str(tmp_path), seed=0)
        train_images, train_labels = next(iter(train))
        evaluation = make_eval_dataset(
            "imagenette", 4, image_size=48, data_dir=str(tmp_path), pad_to_full_batches=True
        )
        eval_batches = list(evaluation.as_numpy_iterator())
    assert train_images.shape == (4, 64, 64, 3) and train_labels.shape == (4,)
    assert np.isfinite(train_images.numpy()).all()
    assert [images.shape for images, _, _ in eval_batches] == [(4, 48, 48, 3)] * 2
    assert sum(weights.sum() for _, _, weights in eval_batches) == 6


def test_cifar10_through_mock_data_trains_in_full_batches(tmp_path):
    with tfds.testing.mock_data(num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE):
        dataset = make_train_dataset("cifar10", 4, data_dir=str(tmp_path), seed=0)
        batches = _batches(dataset, 5)  # more than one epoch of 10 examples
    assert [images.shape for images, _ in batches] == [(4, 32, 32, 3)] * 5
    assert all(((0 <= labels) & (labels < 10)).all() for _, labels in batches)
