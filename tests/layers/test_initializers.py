"""PartialDirac (`kernel_initializer="dirac"`): airbench's identity-at-start convolutions."""

import numpy as np
import pytest
import tensorflow as tf

from deepnets.layers import PartialDirac, VGGBlock
from deepnets.layers.initializers import get_kernel_initializer
from deepnets.models.registry import build_model

keras = tf.keras


@pytest.mark.parametrize("channels_in, channels_out", [(3, 8), (8, 8), (8, 3)])
def test_the_first_filters_pass_their_channel_through(channels_in, channels_out):
    conv = keras.layers.Conv2D(
        channels_out, 3, padding="same", use_bias=False, kernel_initializer=PartialDirac()
    )
    images = np.random.default_rng(0).normal(size=(2, 6, 6, channels_in)).astype(np.float32)
    outputs = conv(images).numpy()
    identity = min(channels_in, channels_out)
    np.testing.assert_allclose(outputs[..., :identity], images[..., :identity], atol=1e-6)
    rest = conv.kernel.numpy()[..., identity:]
    if channels_out > identity:  # the others are He normal: spread, not an identity
        fan_in = 3 * 3 * channels_in
        assert 0.5 < rest.std() * np.sqrt(fan_in / 2.0) < 1.5


def test_a_kernel_that_is_not_a_2d_convolution_is_refused():
    with pytest.raises(ValueError, match="height, width, in, out"):
        PartialDirac()((4, 4))


def test_the_name_dirac_and_the_config_round_trip():
    made = get_kernel_initializer("dirac")
    assert isinstance(made, PartialDirac)
    again = keras.initializers.deserialize(keras.initializers.serialize(made))
    assert isinstance(again, PartialDirac)
    assert isinstance(again.base, keras.initializers.HeNormal)
    assert isinstance(get_kernel_initializer("glorot_uniform"), keras.initializers.GlorotUniform)
    block = VGGBlock(4, num_convs=1, pool=False, kernel_initializer="dirac")
    assert isinstance(VGGBlock.from_config(block.get_config()).kernel_initializer, PartialDirac)


def test_a_model_with_dirac_kernels_reloads_from_keras_file(tmp_path):
    model = build_model(
        "vgg_fast_half", input_shape=(16, 16, 3), stem_layer="conv", kernel_initializer="dirac"
    )
    kernel = model.get_layer("block2").conv2.kernel.numpy()  # 128 -> 128: all identity
    np.testing.assert_array_equal(kernel[1, 1], np.eye(kernel.shape[-1], dtype=np.float32))
    path = str(tmp_path / "dirac.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-5)
