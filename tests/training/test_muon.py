"""Muon: orthogonalized momentum for the conv kernels, AdamW for the head and the vectors."""

import numpy as np
import pytest
import tensorflow as tf

from deepnets.models.registry import build_model
from deepnets.training import TrainConfig, make_optimizer
from deepnets.training.optimization.muon import Muon

keras = tf.keras


def newton_schulz(g, steps=5):
    """Keller Jordan's quintic iteration on a matrix (float64 numpy), the reference here."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.T if g.shape[0] > g.shape[1] else g
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if g.shape[0] > g.shape[1] else x


def small_net():
    return build_model("vgg_fast_half", num_classes=10, input_shape=(16, 16, 3))


def test_conv_kernels_take_the_muon_step_and_the_head_and_vectors_adamw():
    model = small_net()
    optimizer = Muon(0.01)
    optimizer.build(model.trainable_variables)
    muon = {v.path for v in model.trainable_variables if optimizer.uses_muon(v)}
    kernels = {v.path for v in model.trainable_variables if len(v.shape) == 4}
    assert kernels and muon == kernels  # every conv kernel, nothing else
    assert "classifier/predictions/kernel" not in muon
    # Keras' own Muon would do the opposite: its rule is rank == 2, so the head and no conv.
    stock = keras.optimizers.Muon(0.01)
    stock.build(model.trainable_variables)
    assert {v.path for v in model.trainable_variables if not stock._should_use_adamw(v)} == {
        "classifier/predictions/kernel"
    }


def test_a_conv_update_is_the_orthogonalized_gradient_of_its_matrix():
    kernel = keras.Variable(np.random.default_rng(0).normal(size=(3, 3, 4, 6)), dtype="float32")
    gradient = np.random.default_rng(1).normal(size=(3, 3, 4, 6)).astype("float32")
    optimizer = Muon(0.1, momentum=0.0, nesterov=False, rms_rate=None, weight_decay=0.0)
    optimizer.build([kernel])
    before = kernel.numpy().copy()
    optimizer.apply_gradients([(tf.constant(gradient), kernel)])
    update = (before - kernel.numpy()) / 0.1
    expected = newton_schulz(gradient.reshape(36, 6).astype("float64")).reshape(3, 3, 4, 6)
    np.testing.assert_allclose(update, expected, atol=2e-4)
    singular = np.linalg.svd(update.reshape(36, 6), compute_uv=False)
    spread = np.linalg.svd(gradient.reshape(36, 6), compute_uv=False)
    assert spread.max() / spread.min() > 1.5  # the gradient's directions are far from equal
    assert 0.6 < singular.min() and singular.max() < 1.25  # the update's are near 1


def test_a_hidden_dense_kernel_steps_as_in_keras_muon():
    rng = np.random.default_rng(2)
    start = rng.normal(size=(8, 5)).astype("float32")
    gradients = [rng.normal(size=(8, 5)).astype("float32") for _ in range(3)]
    results = []
    for cls in (Muon, keras.optimizers.Muon):
        kernel = keras.Variable(start, name="kernel")
        optimizer = cls(0.05, momentum=0.9, weight_decay=0.0)
        optimizer.build([kernel])
        for g in gradients:
            optimizer.apply_gradients([(tf.constant(g), kernel)])
        results.append(kernel.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(results[0], start)


def test_the_head_takes_adams_first_step():
    model = small_net()
    head = model.get_layer("classifier").trainable_variables[0]
    optimizer = Muon(0.01, adam_lr_ratio=0.5, weight_decay=0.0, adam_weight_decay=0.0)
    optimizer.build(model.trainable_variables)
    before = head.numpy().copy()
    gradient = np.random.default_rng(3).normal(size=head.shape).astype("float32")
    optimizer.apply_gradients([(tf.constant(gradient), head)])
    step = before - head.numpy()
    # Adam's first step is lr * sign(g) (up to epsilon); here lr = 0.01 * adam_lr_ratio.
    np.testing.assert_allclose(step, 0.005 * np.sign(gradient), rtol=0, atol=1e-5)


def test_make_optimizer_builds_it_with_the_configs_momentum_and_nesterov():
    model = small_net()
    cfg = TrainConfig(optimizer="muon", momentum=0.6, nesterov=True, weight_decay=0.1)
    optimizer = make_optimizer(cfg, 0.02, model.trainable_variables)
    assert isinstance(optimizer, Muon) and optimizer.built
    assert optimizer.momentum == pytest.approx(0.6) and optimizer.nesterov
    assert optimizer.weight_decay == pytest.approx(0.1) and optimizer.adam_weight_decay == 0.0
    with pytest.raises(ValueError, match=r"TrainConfig\.nesterov=True.*'muon'"):
        TrainConfig(optimizer="adam", nesterov=True).validate()


def test_it_serializes_with_its_exclusions():
    optimizer = Muon(0.03, exclude_layers=["head_a", "head_b"], momentum=0.7)
    config = keras.optimizers.serialize(optimizer)
    again = keras.optimizers.deserialize(config)
    assert type(again) is Muon
    assert again.exclude_layers == ["head_a", "head_b"] and again.momentum == pytest.approx(0.7)
    assert Muon(0.1).exclude_layers == [r"(^|/)classifier/"]


@pytest.mark.parametrize("shape", [(1152, 128), (128, 1152), (576, 64)])
def test_wide_matrices_are_orthogonalized_in_their_gram_space_with_the_same_result(
    shape, monkeypatch
):
    g = np.random.default_rng(0).normal(size=shape)
    expected = newton_schulz(g)
    # Keras' own iteration is not called for these: the Gram-space one gives the result.
    monkeypatch.setattr(keras.optimizers.Muon, "zeropower_via_newtonschulz5", None)
    result = Muon(0.01).zeropower_via_newtonschulz5(tf.constant(g, tf.float32), 5).numpy()
    assert result.shape == shape
    np.testing.assert_allclose(result, expected, atol=2e-6)


@pytest.mark.parametrize("shape", [(64, 64), (288, 128), (216, 32)])
def test_small_or_near_square_matrices_take_keras_iteration_bit_for_bit(shape):
    g = tf.constant(np.random.default_rng(1).normal(size=shape), tf.float32)
    ours = Muon(0.01).zeropower_via_newtonschulz5(g, 5).numpy()
    stock = keras.optimizers.Muon(0.01).zeropower_via_newtonschulz5(g, 5).numpy()
    np.testing.assert_array_equal(ours, stock)
    np.testing.assert_allclose(ours, newton_schulz(g.numpy().astype(np.float64)), atol=2e-6)
