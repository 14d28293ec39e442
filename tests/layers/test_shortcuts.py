"""The shortcut options of the residual blocks: the paper's option A and B, and plain blocks."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

from deepnets.layers import BasicBlock, BottleneckBlock, IdentityBlock

keras = tf.keras


def _built(block, in_shape):
    block.build((None, *in_shape))
    return block


def _last_bn(block):
    return block.bn3 if isinstance(block, (BottleneckBlock, IdentityBlock)) else block.bn2


def _zero_branch(block):
    """Zero the last BN gamma: with beta 0 and fresh moving statistics the branch outputs 0."""
    bn = _last_bn(block)
    bn.gamma.assign(np.zeros(bn.gamma.shape, "float32"))


def _option_a(x, strides, filters):
    x = x[:, ::strides, ::strides, :]
    return np.concatenate([x, np.zeros((*x.shape[:3], filters - x.shape[3]), x.dtype)], axis=-1)


# (residual block, its plain twin, input shape, expected residual output with a zero branch)
BLOCK_PAIRS = {
    "basic_identity": (lambda **kw: BasicBlock(8, **kw), (6, 6, 8), lambda x: x),
    "basic_option_a": (
        lambda **kw: BasicBlock(16, strides=2, shortcut="A", **kw),
        (7, 7, 8),
        lambda x: _option_a(x, 2, 16),
    ),
    "identity_bottleneck": (lambda **kw: IdentityBlock((2, 2, 8), **kw), (6, 6, 8), lambda x: x),
}


@pytest.mark.parametrize("case", sorted(BLOCK_PAIRS))
def test_plain_block_does_not_add_its_input(case):
    make, in_shape, shortcut = BLOCK_PAIRS[case]
    x = images(in_shape)
    residual, plain = _built(make(), in_shape), _built(make(residual=False), in_shape)
    for block in (residual, plain):
        _zero_branch(block)
    # The residual block then gives relu(shortcut(x)); the plain block relu(0) = 0.
    np.testing.assert_allclose(residual(x, training=False), np.maximum(shortcut(x), 0), atol=1e-6)
    assert np.all(plain(x, training=False).numpy() == 0)


@pytest.mark.parametrize("case", sorted(BLOCK_PAIRS))
def test_plain_block_is_the_residual_branch_alone(case):
    make, in_shape, shortcut = BLOCK_PAIRS[case]
    keras.utils.set_random_seed(0)
    x = images(in_shape)
    residual, plain = _built(make(), in_shape), _built(make(residual=False), in_shape)
    plain.set_weights(residual.get_weights())  # the same layers, so the same weights fit
    y_res, y_plain = residual(x, training=False).numpy(), plain(x, training=False).numpy()
    # plain = relu(branch), residual = relu(shortcut + branch): where the branch is positive,
    # the plain output is the branch itself.
    positive = y_plain > 0
    assert positive.sum() >= 20 and not positive.all()
    expected = np.maximum(shortcut(x) + y_plain, 0)
    np.testing.assert_allclose(y_res[positive], expected[positive], atol=1e-5)


def test_option_a_has_no_parameters_and_b_projects():
    in_shape = (8, 8, 8)
    a = _built(BasicBlock(16, strides=2, shortcut="A"), in_shape)
    b = _built(BasicBlock(16, strides=2, shortcut="B"), in_shape)
    plain = _built(BasicBlock(16, strides=2, residual=False), in_shape)
    assert a.shortcut_conv is None and plain.shortcut_conv is None
    assert b.shortcut_conv.kernel.shape == (1, 1, 8, 16) and b.shortcut_conv.strides == (2, 2)
    projection = (8 * 16 + 16) + 4 * 16  # 1x1 conv with bias, BN gamma/beta/mean/variance
    assert b.count_params() - a.count_params() == projection
    assert plain.count_params() == a.count_params()
    x = images(in_shape)
    assert a(x).shape == b(x).shape == plain(x).shape == (2, 4, 4, 16)


def test_option_a_and_b_agree_where_the_shape_is_kept():
    a, b = _built(BasicBlock(8, shortcut="A"), (6, 6, 8)), _built(BasicBlock(8), (6, 6, 8))
    assert a.shortcut_conv is None and b.shortcut_conv is None
    b.set_weights(a.get_weights())
    x = images((6, 6, 8))
    np.testing.assert_allclose(a(x, training=False), b(x, training=False), atol=1e-6)


def test_plain_bottleneck_drops_the_projection():
    residual = _built(BottleneckBlock((4, 4, 16), strides=2), (8, 8, 8))
    plain = _built(BottleneckBlock((4, 4, 16), strides=2, residual=False), (8, 8, 8))
    assert plain.shortcut_conv is None and plain.shortcut_bn is None
    projection = residual.shortcut_conv.count_params() + residual.shortcut_bn.count_params()
    assert residual.count_params() - plain.count_params() == projection


def test_shortcut_options_are_in_the_config_and_old_configs_keep_the_defaults():
    block = BasicBlock(16, strides=2, shortcut="A", residual=False)
    config = block.get_config()
    assert (config["shortcut"], config["residual"]) == ("A", False)
    old = {k: v for k, v in config.items() if k not in ("shortcut", "residual")}
    clone = BasicBlock.from_config(old)  # a block saved before these options existed
    assert (clone.shortcut, clone.residual) == ("B", True)
    for cls, filters in ((BottleneckBlock, (4, 4, 16)), (IdentityBlock, (4, 4, 16))):
        assert cls(filters, residual=False).get_config()["residual"] is False
