"""Plain twins (`residual=False`): the same layers as the ResNet, without the shortcuts."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images, small_model

import deepnets
from deepnets.checks import ArgumentError
from deepnets.models import ResNet, cifar_resnet_arguments

keras = tf.keras

PLAIN_NAMES = [n for n in deepnets.list_models() if n.startswith("plain")]


def _zero_every_branch(model):
    for block in model.blocks:
        bn = getattr(block, "bn3", None) or block.bn2
        bn.gamma.assign(np.zeros(bn.gamma.shape, "float32"))


def test_every_resnet_up_to_34_has_a_registered_plain_twin():
    expected = {"plain18", "plain34", "plain20", "plain32", "plain44", "plain56", "plain110"}
    assert set(PLAIN_NAMES) == expected
    for name in PLAIN_NAMES:
        twin = deepnets.get_model_spec(name.replace("plain", "resnet"))
        spec = deepnets.get_model_spec(name)
        assert spec.model_class is twin.model_class
        assert spec.fixed == {**twin.fixed, "residual": False}


@pytest.mark.parametrize("name", ["plain20", "plain18"])
def test_plain_net_has_no_additions(name):
    plain = small_model(name)
    resnet = small_model(name.replace("plain", "resnet"))
    assert all(not b.residual and b.shortcut_conv is None for b in plain.blocks)
    for model in (plain, resnet):
        _zero_every_branch(model)
    x = images(tuple(plain.input_shape[1:]), seed=4)
    # Every plain block now outputs relu(0) = 0: the logits no longer depend on the image. The
    # ResNet's blocks pass their input on, so its logits still do.
    logits = plain(x, training=False).numpy()
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)
    bias = plain.get_layer("classifier").predictions.bias.numpy()
    np.testing.assert_allclose(logits[0], bias, atol=1e-6)
    res_logits = resnet(x, training=False).numpy()
    assert not np.allclose(res_logits[0], res_logits[1], atol=1e-4)


@pytest.mark.parametrize(
    "plain, resnet",
    [
        (cifar_resnet_arguments(20), cifar_resnet_arguments(20)),
        (dict(depth=34, width=4), dict(depth=34, width=4, shortcut="A")),
    ],
)
def test_plain_twin_has_the_layers_and_count_of_option_a(plain, resnet):
    plain = ResNet(residual=False, **plain)
    resnet = ResNet(**resnet)
    assert plain.count_params() == resnet.count_params()
    assert [w.path for w in plain.weights] == [w.path for w in resnet.weights]


def test_plain_bottleneck_resnet_drops_the_four_projections():
    resnet = ResNet(depth=50, width=4, stem="cifar")
    plain = ResNet(depth=50, width=4, stem="cifar", residual=False)
    projections = [b for b in resnet.blocks if b.shortcut_conv is not None]
    assert [b.name for b in projections] == [f"conv{s}_block1" for s in (2, 3, 4, 5)]
    dropped = sum(
        b.shortcut_conv.count_params() + b.shortcut_bn.count_params() for b in projections
    )
    assert resnet.count_params() - plain.count_params() == dropped
    assert all(b.shortcut_conv is None and not b.residual for b in plain.blocks)


@pytest.mark.parametrize("name", ["plain20", "plain18"])
def test_plain_net_trains_a_step_and_every_kernel_gets_a_gradient(name):
    model = small_model(name)
    x = images(tuple(model.input_shape[1:]), batch=8)
    y = np.arange(8) % 5
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, True))
    grads = tape.gradient(loss, model.trainable_weights)
    pairs = list(zip(grads, model.trainable_weights, strict=True))
    assert all(g is not None for g, _ in pairs)
    kernels = [(g, w) for g, w in pairs if "kernel" in w.path]
    assert len(kernels) == len([w for w in model.weights if "kernel" in w.path]) >= 10
    assert all(np.any(g.numpy() != 0) for g, _ in kernels), [w.path for g, w in kernels]
    before = [w.numpy().copy() for _, w in kernels]
    keras.optimizers.SGD(0.1).apply_gradients(pairs)
    assert all(not np.allclose(b, w.numpy()) for b, (_, w) in zip(before, kernels, strict=True))


@pytest.mark.parametrize(
    "name, overrides, argument",
    [
        ("plain20", {"zero_init_residual": True}, "zero_init_residual"),
        ("plain18", {"stochastic_depth_rate": 0.1}, "stochastic_depth_rate"),
    ],
)
def test_residual_only_options_are_refused_on_a_plain_net(name, overrides, argument):
    with pytest.raises(ArgumentError, match=rf"`{argument}`: .* needs residual=True") as info:
        deepnets.build_model(name, **overrides)
    assert info.value.name == argument
