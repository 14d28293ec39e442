"""PatchWhitening: a fixed convolution, set from data, that whitens the images' 2x2 patches."""

import re

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.checks import ArgumentError
from deepnets.layers import PatchWhitening
from deepnets.training import TrainConfig, train

keras = tf.keras


def correlated_images(n=120, size=12, seed=0):
    """Images whose channels are mixed and shifted: far from white."""
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.8, 0.1], [0.0, 0.6, 0.9], [0.3, 0.0, 0.5]])
    smooth = rng.normal(size=(n, size, size, 3))
    smooth = smooth + np.roll(smooth, 1, axis=1) + np.roll(smooth, 1, axis=2)  # neighbours agree
    return (smooth @ mix + np.array([1.0, -2.0, 0.5])).astype("float32")


def patch_rows(images, k=2):
    patches = tf.image.extract_patches(images, [1, k, k, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
    return patches.numpy().reshape(-1, patches.shape[-1]).astype(np.float64)


def test_adapted_outputs_are_white_and_their_negatives_follow():
    images = correlated_images()
    rows = patch_rows(images)
    assert np.abs(np.corrcoef(rows.T) - np.eye(12)).max() > 0.5  # the input is not white
    layer = PatchWhitening(epsilon=1e-9)
    assert layer.adapt(images) == len(images)
    out = layer(images).numpy()
    assert out.shape == (120, 11, 11, 24)
    flat = out.reshape(-1, 24).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(flat[:, :12].T, bias=True), np.eye(12), atol=1e-3)
    np.testing.assert_allclose(flat[:, 12:], -flat[:, :12], atol=1e-5)


def test_epsilon_damps_the_weak_components():
    images = correlated_images()
    weak = PatchWhitening(epsilon=10.0)
    weak.adapt(images)
    variances = np.var(weak(images).numpy().reshape(-1, 24)[:, :12], axis=0)
    assert variances.max() < 1.0  # lambda / (lambda + 10) < 1 for every component
    assert variances.max() / variances.min() > 2.0  # the strong ones keep more than the weak


def test_adapt_takes_batches_with_labels_and_stops_at_max_images():
    images = correlated_images(n=100)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(100, np.int64))).batch(30)
    from_dataset = PatchWhitening()
    assert from_dataset.adapt(dataset, max_images=45) == 45
    from_array = PatchWhitening()
    from_array.adapt(images[:45])
    for a, b in zip(from_dataset.get_weights(), from_array.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_channels_first_computes_the_same_filters():
    images = correlated_images(n=40)
    last = PatchWhitening(activation="gelu")
    last.adapt(images)
    first = PatchWhitening(activation="gelu", data_format="channels_first")
    first.adapt(images.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first.kernel.numpy(), last.kernel.numpy(), rtol=1e-5, atol=1e-6)
    if tf.config.list_physical_devices("GPU"):  # TensorFlow's CPU conv takes channels_last only
        np.testing.assert_allclose(
            first(images.transpose(0, 3, 1, 2)).numpy().transpose(0, 2, 3, 1),
            last(images).numpy(),
            atol=1e-4,
        )
    assert first.compute_output_shape((None, 3, 40, 30)) == (None, 24, 39, 29)


def test_only_the_bias_trains():
    layer = PatchWhitening(activation="relu")
    images = correlated_images(n=8)
    layer.adapt(images)
    assert [w.name for w in layer.trainable_weights] == ["bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["kernel"]


@pytest.mark.parametrize(
    "options, name",
    [
        ({"kernel_size": 0}, "kernel_size"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": "small"}, "epsilon"),
        ({"activation": "tanh"}, "activation"),
        ({"data_format": "NHWC"}, "data_format"),
    ],
)
def test_bad_arguments_are_named(options, name):
    with pytest.raises(ArgumentError, match=name):
        PatchWhitening(**options)


def test_bad_adapt_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="no images"):
        PatchWhitening().adapt(tf.data.Dataset.from_tensor_slices(np.zeros((0, 8, 8, 3))))
    with pytest.raises(ValueError, match="at least 3x3 pixels"):
        PatchWhitening(kernel_size=3).adapt(np.zeros((2, 2, 5, 3)))
    layer = PatchWhitening()
    layer.build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="built for 3 input channels.*have 1"):
        layer.adapt(np.random.default_rng(0).normal(size=(4, 8, 8, 1)))


def test_fast_vgg_with_the_whitening_stem_saves_and_reloads(tmp_path):
    model = deepnets.build_model(
        "vgg_fast", stem_layer="whiten", widths=(8, 16, 16), input_shape=(32, 32, 3)
    )
    assert isinstance(model.get_layer("stem"), PatchWhitening)
    assert model.get_layer("stem").compute_output_shape((None, 32, 32, 3)) == (None, 31, 31, 24)
    model.get_layer("stem").adapt(correlated_images(n=20, size=32))
    path = str(tmp_path / "white.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["stem_layer"] == "whiten"
    images = correlated_images(n=4, size=32)
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), atol=1e-6)
    with pytest.raises(ArgumentError, match="stem_layer"):
        deepnets.build_model("vgg_fast", stem_layer="patchify")


def test_training_sets_the_stem_from_the_data_once(tmp_path, capsys):
    def config(steps):
        return TrainConfig(
            model="vgg_fast",
            model_overrides={"stem_layer": "whiten", "widths": (8, 16, 16)},
            dataset="shapes10",
            model_dir=str(tmp_path),
            epochs=None,
            train_steps=steps,
            steps_per_loop=2,
            global_batch_size=16,
            eval_batch_size=500,
            ema_decay=0.9,
            export_saved_model=False,
        )

    model = train(config(2)).final_model_path
    assert "Set stem from the patches of 5000 training images" in capsys.readouterr().out
    kernel = keras.models.load_model(model).get_layer("stem").kernel.numpy()
    untouched = deepnets.build_model("vgg_fast", stem_layer="whiten", widths=(8, 16, 16))
    untouched.build((None, 32, 32, 3))
    assert not np.allclose(kernel, untouched.get_layer("stem").kernel.numpy())
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12], atol=1e-6)  # the data's

    resumed = train(config(4)).final_model_path  # resumed: the stem comes from the checkpoint
    assert "Set stem" not in capsys.readouterr().out
    np.testing.assert_allclose(
        keras.models.load_model(resumed).get_layer("stem").kernel.numpy(), kernel, atol=1e-6
    )


def test_starting_weights_without_the_stem_leave_it_set_from_the_data(tmp_path, capsys):
    source = deepnets.build_model("vgg_fast", widths=(8, 16, 16), input_shape=(32, 32, 3))
    source.save(str(tmp_path / "conv_stem.keras"))
    result = train(
        TrainConfig(
            model="vgg_fast",
            model_overrides={"stem_layer": "whiten", "widths": (8, 16, 16)},
            dataset="shapes10",
            model_dir=str(tmp_path / "run"),
            init_weights=str(tmp_path / "conv_stem.keras"),
            epochs=None,
            train_steps=1,
            global_batch_size=16,
            eval_batch_size=500,
            export_saved_model=False,
        )
    )
    out = capsys.readouterr().out
    assert "Set stem from the patches" in out
    copied = re.search(r"Initialized (\d+) layers from .*; new: (.*)\.", out)
    assert int(copied.group(1)) >= 2 and "stem" in copied.group(2).split(", ")
    kernel = keras.models.load_model(result.final_model_path).get_layer("stem").kernel.numpy()
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12], atol=1e-6)  # the data's
