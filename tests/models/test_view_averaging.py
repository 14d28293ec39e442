"""Test-time views: shifts with reflected edges, view groups, and their weighted average."""

import numpy as np
import pytest
import tensorflow as tf

from deepnets.models.view_averaging import average_probabilities, shift_images, view_groups


def _grid(height=5, width=6):
    values = np.arange(height * width, dtype=np.float32).reshape(1, height, width, 1)
    return tf.constant(values)


@pytest.mark.parametrize("dy,dx", [(1, 1), (-1, -1), (2, 0), (0, -2), (1, -2)])
def test_a_shift_moves_every_pixel_and_reflects_the_uncovered_edge(dy, dx):
    images = _grid()
    got = shift_images(images, dy, dx).numpy()[0, :, :, 0]
    source = images.numpy()[0, :, :, 0]
    assert got.shape == source.shape
    height, width = source.shape

    def reflect(i, size):  # the index numpy's "reflect" padding reads (edge not repeated)
        return -i if i < 0 else (2 * (size - 1) - i if i >= size else i)

    for i in range(height):
        for j in range(width):
            assert got[i, j] == source[reflect(i - dy, height), reflect(j - dx, width)]


def test_no_shift_is_the_images_and_too_large_a_shift_names_translate():
    images = _grid()
    assert shift_images(images, 0, 0) is images
    with pytest.raises(ValueError, match="`translate` must be smaller than the images' height"):
        shift_images(images, 5, 5)


@pytest.mark.parametrize(
    "flip,translate,sizes", [(False, 0, [1]), (True, 0, [2]), (False, 2, [1, 2]), (True, 1, [2, 4])]
)
def test_views_come_in_an_unshifted_and_a_shifted_group(flip, translate, sizes):
    images = _grid()
    groups = view_groups(images, flip, translate)
    assert [len(group) for group in groups] == sizes
    np.testing.assert_array_equal(groups[0][0], images)
    if flip:  # every view's mirror follows it in its group
        half = len(groups[-1]) // 2
        np.testing.assert_array_equal(groups[-1][half], tf.reverse(groups[-1][0], [2]))
    if translate:
        np.testing.assert_array_equal(groups[1][0], shift_images(images, -translate, -translate))


def test_the_average_weighs_each_group_equally():
    images = _grid()

    def probabilities(x):  # a stand-in scorer: a different "probability" for every view
        first = tf.sigmoid(tf.reduce_sum(x[:, 0, :, 0], 1) / 50.0 - x[:, 0, 0, 0] / 10.0)
        return tf.stack([first, 1.0 - first], axis=1)

    groups = view_groups(images, True, 1)
    want = (
        np.mean([probabilities(v).numpy() for v in groups[0]], axis=0)
        + np.mean([probabilities(v).numpy() for v in groups[1]], axis=0)
    ) / 2
    got = average_probabilities(probabilities, images, flip=True, translate=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    all_equal = np.mean([probabilities(v).numpy() for g in groups for v in g], axis=0)
    assert not np.allclose(got, all_equal)  # not a plain mean over the six views
    plain = average_probabilities(probabilities, images).numpy()
    np.testing.assert_allclose(plain, probabilities(images).numpy())
