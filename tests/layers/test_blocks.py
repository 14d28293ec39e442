"""Every deepnets layer: shapes, config round trip, .keras reload, options, mixed precision."""

import math

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

from deepnets.layers import (
    BasicBlock,
    BottleneckBlock,
    ClassifierHead,
    IdentityBlock,
    LocalResponseNormalization,
    ResNetStem,
    VGGBlock,
)

keras = tf.keras

# (layer factory, input shape without batch, expected output shape without batch)
LAYER_CASES = {
    "vgg_block": (lambda: VGGBlock(8, num_convs=2), (16, 16, 3), (8, 8, 8)),
    "vgg_block_bn_nopool": (
        lambda: VGGBlock(8, num_convs=3, batch_norm=True, pool=False),
        (16, 16, 3),
        (16, 16, 8),
    ),
    "vgg_block_pool_first": (
        lambda: VGGBlock(8, num_convs=2, batch_norm=True, pool_position="first_conv"),
        (16, 16, 3),
        (8, 8, 8),
    ),
    "bottleneck_v1": (lambda: BottleneckBlock((4, 4, 16), strides=2), (16, 16, 8), (8, 8, 16)),
    "bottleneck_v15": (
        lambda: BottleneckBlock((4, 4, 16), strides=2, stride_in="3x3"),
        (15, 15, 8),
        (8, 8, 16),
    ),
    "identity": (lambda: IdentityBlock((4, 4, 16)), (8, 8, 16), (8, 8, 16)),
    "basic_same": (lambda: BasicBlock(8), (8, 8, 8), (8, 8, 8)),
    "basic_projection": (lambda: BasicBlock(16, strides=2), (8, 8, 8), (4, 4, 16)),
    "basic_option_a": (lambda: BasicBlock(16, strides=2, shortcut="A"), (9, 9, 8), (5, 5, 16)),
    "basic_plain": (lambda: BasicBlock(16, strides=2, residual=False), (8, 8, 8), (4, 4, 16)),
    "bottleneck_plain": (
        lambda: BottleneckBlock((4, 4, 16), strides=2, residual=False),
        (8, 8, 8),
        (4, 4, 16),
    ),
    "identity_plain": (lambda: IdentityBlock((4, 4, 16), residual=False), (8, 8, 8), (8, 8, 16)),
    "stem_imagenet": (lambda: ResNetStem(8, stem="imagenet"), (32, 32, 3), (8, 8, 8)),
    "stem_cifar": (lambda: ResNetStem(8, stem="cifar"), (32, 32, 3), (32, 32, 8)),
    "head_fc": (
        lambda: ClassifierHead(5, pooling="flatten", hidden_units=(6,), dropout=0.5),
        (2, 2, 4),
        (5,),
    ),
    "head_scaled": (lambda: ClassifierHead(5, pooling="max", logit_scale=1 / 9), (2, 2, 4), (5,)),
    "lrn": (lambda: LocalResponseNormalization(), (4, 4, 8), (4, 4, 8)),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_output_shape_matches_compute_output_shape(case):
    make, in_shape, out_shape = LAYER_CASES[case]
    layer = make()
    y = layer(images(in_shape))
    assert tuple(y.shape) == (2, *out_shape)
    assert tuple(layer.compute_output_shape((2, *in_shape))) == (2, *out_shape)


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_build_without_call_creates_every_weight(case):
    make, in_shape, _ = LAYER_CASES[case]
    built = make()
    built.build((None, *in_shape))
    called = make()
    called(images(in_shape))
    assert built.count_params() == called.count_params()
    assert [w.shape for w in built.weights] == [w.shape for w in called.weights]


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_config_round_trip_gives_same_class_and_config(case):
    layer = LAYER_CASES[case][0]()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    # Config holds exactly the constructor arguments plus Keras' own layer arguments.
    assert "name" in config and "dtype" in config and "trainable" in config


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_in_functional_model_reloads_from_keras_file(case, tmp_path):
    make, in_shape, _ = LAYER_CASES[case]
    inputs = keras.Input(in_shape)
    layer = make()
    model = keras.Model(inputs, layer(inputs))
    x = images(in_shape)
    expected = model(x, training=False).numpy()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[1]) is type(layer)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(
    "case", ["vgg_block_bn_nopool", "bottleneck_v1", "basic_projection", "basic_option_a"]
)
def test_channels_first_matches_channels_last(case):
    make, in_shape, _ = LAYER_CASES[case]
    last = make()
    config = last.get_config()
    first = type(last).from_config({**config, "data_format": "channels_first"})
    x = images(in_shape)
    y_last = last(x)
    first.build((None, in_shape[2], in_shape[0], in_shape[1]))
    first.set_weights(last.get_weights())
    y_first = first(np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, atol=1e-5)


@pytest.mark.parametrize(
    "case", ["vgg_block_bn_nopool", "bottleneck_v15", "basic_projection", "basic_option_a"]
)
def test_mixed_float16_policy_runs_in_float16_with_float32_variables(case):
    make, in_shape, _ = LAYER_CASES[case]
    keras.mixed_precision.set_global_policy("mixed_float16")
    layer = make()
    y = layer(images(in_shape))
    assert y.dtype == tf.float16
    assert all(w.dtype == tf.float32 for w in layer.weights)
    sublayers = [s for s in layer._flatten_layers(include_self=False) if s.weights]
    assert sublayers and all(s.compute_dtype == "float16" for s in sublayers)


def test_bottleneck_stride_placement_1x1_vs_3x3():
    v1 = BottleneckBlock((4, 4, 16), strides=2, stride_in="1x1")
    v15 = BottleneckBlock((4, 4, 16), strides=2, stride_in="3x3")
    v1.build((None, 8, 8, 8))
    v15.build((None, 8, 8, 8))
    assert v1.conv1.strides == (2, 2) and v1.conv2.strides == (1, 1) and v1.pad2 is None
    # v1.5: symmetric zero padding, then a 'valid' strided 3x3 (torchvision's sampling).
    assert v15.conv1.strides == (1, 1)
    assert v15.conv2.strides == (2, 2) and v15.conv2.padding == "valid"
    assert v15.pad2.padding == ((1, 1), (1, 1))
    assert v1.count_params() == v15.count_params()


@pytest.mark.parametrize("old, new", [("v1", "1x1"), ("v1.5", "3x3")])
def test_bottleneck_reads_0_2_variant_as_stride_in(old, new):
    with pytest.warns(DeprecationWarning, match=r"`variant` \(0.2\) is now `stride_in`"):
        block = BottleneckBlock((4, 4, 16), strides=2, variant=old)
    assert block.stride_in == new and "variant" not in block.get_config()
    # A 0.2 layer config (as a functional model's .keras file holds it) reads the same way.
    config = {**block.get_config(), "variant": old}
    del config["stride_in"]
    with pytest.warns(DeprecationWarning):
        assert BottleneckBlock.from_config(config).get_config() == block.get_config()
    with pytest.raises(TypeError, match=r"got `variant`='v1.5' and `stride_in`='3x3'.*only"):
        BottleneckBlock((4, 4, 16), variant="v1.5", stride_in="3x3")


def test_zero_init_residual_makes_block_start_as_relu_of_input():
    block = IdentityBlock((2, 2, 8), zero_init_residual=True)
    x = images((4, 4, 8))
    np.testing.assert_allclose(block(x, training=False), np.maximum(x, 0), atol=1e-6)
    plain = IdentityBlock((2, 2, 8))
    assert not np.allclose(plain(x, training=False), np.maximum(x, 0), atol=1e-3)


def _binomial_bound(n, p, sigmas=4.0):
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return mean - sigmas * sd, mean + sigmas * sd


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_stochastic_depth_drops_whole_branches_and_rescales_kept_ones(rate):
    # Seeded, so the count is reproducible: unseeded, one CI run of the suite dropped 92 of
    # 256 branches at rate 0.25 (4.04 sigma above the mean).
    keras.utils.set_random_seed(1234)
    n = 256
    block = IdentityBlock((2, 2, 8), stochastic_depth_rate=rate)
    # A large positive input keeps relu(x + residual) = x + residual, so the residual that was
    # added can be read off the output: y - x.
    x = np.abs(images((4, 4, 8), batch=n)) + 100.0
    y = block(x, training=True).numpy()
    # The same block without stochastic depth, with identical weights, on the same batch:
    # BatchNorm uses the same batch statistics, so this is the residual before drop-path.
    plain = IdentityBlock.from_config({**block.get_config(), "stochastic_depth_rate": 0.0})
    plain.build(x.shape)
    plain.set_weights(block.get_weights())
    residual = plain(x, training=True).numpy() - x
    assert np.all(np.abs(residual) < 50)  # so the relu above never clipped

    added = y - x
    dropped = np.all(added == 0, axis=(1, 2, 3))
    low, high = _binomial_bound(n, rate)
    assert low <= dropped.sum() <= high, (dropped.sum(), low, high)
    # A kept branch is scaled by exactly 1 / (1 - rate), so the expected sum is unchanged.
    np.testing.assert_allclose(added[~dropped], residual[~dropped] / (1 - rate), atol=2e-4)
    assert not np.allclose(added[~dropped], residual[~dropped], atol=1e-2)

    y_eval = block(x, training=False).numpy()
    assert not np.any(np.all(y_eval == x, axis=(1, 2, 3)))  # no branch dropped at inference


def test_bn_momentum_and_epsilon_reach_every_batchnorm():
    block = BottleneckBlock((4, 4, 16), bn_momentum=0.95, bn_epsilon=1e-5)
    block.build((None, 8, 8, 8))
    norms = [s for s in block._flatten_layers() if isinstance(s, keras.layers.BatchNormalization)]
    assert len(norms) == 4
    assert all(n.momentum == 0.95 and n.epsilon == 1e-5 for n in norms)


def test_use_bias_initializer_and_regularizer_reach_every_conv():
    block = VGGBlock(
        4,
        num_convs=2,
        use_bias=False,
        kernel_initializer="zeros",
        kernel_regularizer=keras.regularizers.L2(1e-3),
    )
    block(images((8, 8, 3)))
    convs = [s for s in block._flatten_layers() if isinstance(s, keras.layers.Conv2D)]
    assert len(convs) == 2
    assert all(c.bias is None for c in convs)
    assert all(np.all(c.kernel.numpy() == 0) for c in convs)
    assert len(block.losses) == 2
    clone = VGGBlock.from_config(block.get_config())
    assert clone.kernel_regularizer.get_config() == block.kernel_regularizer.get_config()


def test_lrn_matches_formula():
    x = np.abs(images((1, 1, 7), batch=1))
    y = LocalResponseNormalization(size=5, bias=2.0, alpha=1e-1, beta=0.75)(x).numpy()
    c = 3
    denom = (2.0 + 1e-1 / 5 * np.sum(x[0, 0, 0, 1:6] ** 2)) ** 0.75
    np.testing.assert_allclose(y[0, 0, 0, c], x[0, 0, 0, c] / denom, rtol=1e-5)


def test_vgg_block_activation_is_relu_or_gelu():
    x = images((8, 8, 3))
    relu = VGGBlock(4, num_convs=1, batch_norm=True, pool=False)
    gelu = VGGBlock.from_config({**relu.get_config(), "activation": "gelu"})
    y_relu = relu(x, training=True).numpy()
    gelu.build(x.shape)
    gelu.set_weights(relu.get_weights())
    y_gelu = gelu(x, training=True).numpy()
    assert y_relu.min() == 0.0 and y_gelu.min() < 0.0  # GELU lets small negatives through
    np.testing.assert_allclose(y_gelu[y_relu > 3], y_relu[y_relu > 3], rtol=1e-2)
    with pytest.raises(ValueError, match=r"`activation` must be one of 'relu', 'gelu'"):
        VGGBlock(4, activation="tanh")


def test_vgg_block_pool_first_conv_pools_before_the_first_batchnorm():
    # With one convolution and BN in inference mode at its initial statistics (mean 0, var 1),
    # "first_conv" is conv -> pool -> BN -> ReLU, the same as "end" (conv -> BN -> ReLU -> pool)
    # because max-pooling commutes with a monotone per-channel map; with two convolutions the
    # second runs at a quarter of the positions, so the outputs differ.
    x = images((8, 8, 3))
    end = VGGBlock(4, num_convs=1, batch_norm=True)
    first = VGGBlock.from_config({**end.get_config(), "pool_position": "first_conv"})
    assert first.get_config()["pool_position"] == "first_conv"
    first.build(x.shape)
    end.build(x.shape)
    first.set_weights(end.get_weights())
    np.testing.assert_allclose(first(x).numpy(), end(x).numpy(), rtol=1e-5, atol=1e-6)
    kinds = [type(layer).__name__ for layer in first._in_call_order() if layer is not None]
    assert kinds[:2] == ["Conv2D", "MaxPooling2D"], kinds
    two_end = VGGBlock(4, num_convs=2, batch_norm=True)
    two_first = VGGBlock.from_config({**two_end.get_config(), "pool_position": "first_conv"})
    two_end.build(x.shape)
    two_first.build(x.shape)
    two_first.set_weights(two_end.get_weights())
    assert two_first(x).shape == two_end(x).shape == (2, 4, 4, 4)
    assert not np.allclose(two_first(x).numpy(), two_end(x).numpy())
    with pytest.raises(ValueError, match=r"`pool_position` must be one of 'end', 'first_conv'"):
        VGGBlock(4, pool_position="start")


@pytest.mark.parametrize("activation", ["softmax", None])
def test_the_logit_scale_multiplies_the_logits_before_the_activation(activation):
    features = images((3, 3, 4))
    plain = ClassifierHead(5, pooling="max", classifier_activation=None)
    scaled = ClassifierHead(5, pooling="max", classifier_activation=activation, logit_scale=0.25)
    plain(features)
    scaled(features)
    scaled.set_weights(plain.get_weights())
    logits = 0.25 * plain(features).numpy()
    want = tf.nn.softmax(logits).numpy() if activation else logits
    np.testing.assert_allclose(scaled(features).numpy(), want, rtol=1e-5, atol=1e-6)
    # unscaled heads keep the activation inside the Dense layer, as saved models have it
    assert ClassifierHead(5).predictions.activation is keras.activations.softmax
    with pytest.raises(ValueError, match="logit_scale"):
        ClassifierHead(5, logit_scale=0.0)
