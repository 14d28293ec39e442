"""Optimizers, weight decay (kernels only) and the label-smoothed loss."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.models.registry import build_model
from deepnets.training import (
    ConfigError,
    TrainConfig,
    classification_loss,
    l2_weight_decay_loss,
    make_optimizer,
)
from deepnets.training.loop.parts import BatchNormRateMultipliers
from deepnets.training.optimization.optimizers import batch_norm_parameters, decayed_variables


def names(variables):
    return sorted(v.path for v in variables)


def test_only_conv_and_dense_kernels_are_decayed():
    model = toys.toy_model(batch_norm=True)
    decayed = names(decayed_variables(model.trainable_variables))
    assert len(decayed) == 2
    assert all(n.endswith("/kernel") for n in decayed)
    skipped = set(names(model.trainable_variables)) - set(decayed)
    assert {n.rsplit("/", 1)[1] for n in skipped} == {"bias", "gamma", "beta"}


def test_l2_loss_is_half_squared_norm_of_kernels_times_decay():
    model = toys.toy_model(batch_norm=True)
    kernels = [w.numpy() for w in decayed_variables(model.trainable_variables)]
    expected = 5e-4 * sum(0.5 * np.sum(k**2) for k in kernels)
    got = float(l2_weight_decay_loss(model.trainable_variables, 5e-4))
    assert got == pytest.approx(expected, rel=1e-6)
    assert float(l2_weight_decay_loss(model.trainable_variables, 0.0)) == 0.0


def test_decoupled_decay_shrinks_kernels_but_not_bias_or_batchnorm():
    model = toys.toy_model(batch_norm=True)
    for v in model.trainable_variables:  # non-zero biases/gammas/betas, to see they stay
        v.assign(tf.ones_like(v) * 0.5)
    cfg = TrainConfig(
        optimizer="sgd", momentum=0.0, weight_decay=0.1, weight_decay_mode="decoupled"
    )
    optimizer = make_optimizer(cfg, 0.5, model.trainable_variables)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))
    for v in model.trainable_variables:
        factor = 1 - 0.5 * 0.1 if v.path.endswith("kernel") else 1.0
        np.testing.assert_allclose(v.numpy(), before[v.path] * factor, rtol=1e-6, err_msg=v.path)


def test_l2_mode_leaves_the_optimizer_without_decay():
    model = toys.toy_model(batch_norm=False)
    optimizer = make_optimizer(TrainConfig(weight_decay=5e-4), 0.1, model.trainable_variables)
    assert isinstance(optimizer, tf.keras.optimizers.SGD)
    assert optimizer.weight_decay is None
    assert optimizer.momentum == pytest.approx(0.9)


def test_optimizer_kinds_are_built_with_slots():
    model = toys.toy_model(batch_norm=False)
    num_vars = len(model.trainable_variables)
    sgd = make_optimizer(TrainConfig(nesterov=True), 0.1, model.trainable_variables)
    assert sgd.built and sgd.nesterov
    # iterations + learning rate + one momentum slot per variable
    assert len(sgd.variables) == 2 + num_vars
    adamw = make_optimizer(
        TrainConfig(optimizer="adamw", weight_decay=0.05), 1e-3, model.trainable_variables
    )
    assert isinstance(adamw, tf.keras.optimizers.AdamW)
    assert adamw.weight_decay == pytest.approx(0.05)
    assert len(adamw.variables) == 2 + 2 * num_vars
    scaled = make_optimizer(
        TrainConfig(mixed_precision="mixed_float16"), 0.1, model.trainable_variables
    )
    assert isinstance(scaled, tf.keras.mixed_precision.LossScaleOptimizer)
    assert isinstance(scaled.inner_optimizer, tf.keras.optimizers.SGD)


def test_label_smoothing_matches_the_smoothed_cross_entropy():
    logits = tf.constant([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 3.0]])
    labels = tf.constant([0, 3])
    log_probs = tf.nn.log_softmax(logits).numpy()
    targets = np.full((2, 4), 0.1 / 4)
    targets[[0, 1], [0, 3]] += 0.9
    expected = -(targets * log_probs).sum(axis=1)
    got = classification_loss(labels, logits, label_smoothing=0.1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    plain = classification_loss(labels, logits).numpy()
    np.testing.assert_allclose(plain, -log_probs[[0, 1], [0, 3]], rtol=1e-6)
    assert np.all(got > plain)  # confident correct predictions pay for smoothing


@pytest.mark.parametrize(
    "name, rate", [("nadam", 1e-2), ("lion", 1e-3), ("lamb", 1e-2), ("muon", 2e-2)]
)
def test_more_optimizers_train_and_resume_with_their_state(name, rate, tmp_path):
    from deepnets.training import LoopSettings, run_loop
    from deepnets.training.reports.reporting import read_metrics_csv

    cfg = TrainConfig(optimizer=name, weight_decay=1e-4)
    settings = LoopSettings(total_steps=24, steps_per_epoch=8, steps_per_loop=4)
    runner = toys.toy_runner(with_eval=False, optimizer=cfg, learning_rate=rate)
    run_loop(runner, settings, model_dir=str(tmp_path))
    losses = [float(r["data_loss"]) for r in read_metrics_csv(str(tmp_path / "metrics.csv"))]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    inner = getattr(runner.optimizer, "inner_optimizer", runner.optimizer)
    assert type(inner).__name__.lower() == name
    assert cfg.resolved_weight_decay_mode == ("l2" if name == "nadam" else "decoupled")
    resumed = toys.toy_runner(with_eval=False, optimizer=cfg, learning_rate=rate)
    longer = LoopSettings(total_steps=28, steps_per_epoch=8, steps_per_loop=4)
    result = run_loop(resumed, longer, model_dir=str(tmp_path))
    assert result.resumed_from.endswith("ckpt-24")
    assert int(resumed.optimizer.iterations.numpy()) == 28  # its state came back


def test_clip_grad_norm_bounds_the_update():
    model = toys.toy_model()
    cfg = TrainConfig(momentum=0.0, clip_grad_norm=1e-3, weight_decay=0.0)
    optimizer = make_optimizer(cfg, 1.0, model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    huge = [tf.ones_like(v) * 100.0 for v in model.trainable_variables]
    optimizer.apply_gradients(zip(huge, model.trainable_variables, strict=True))
    step = np.sqrt(
        sum(
            ((v.numpy() - b) ** 2).sum()
            for v, b in zip(model.trainable_variables, before, strict=True)
        )
    )
    assert step == pytest.approx(1e-3, rel=1e-3)  # lr 1 x a gradient clipped to norm 1e-3


def test_the_batch_norm_parameters_are_found_in_nested_blocks():
    model = build_model("vgg_fast_half", input_shape=(32, 32, 3), stem_layer="conv")
    for which in ("beta", "gamma"):
        found = batch_norm_parameters(model, which)
        # the stem block's one BN and two per block
        assert len(found) == 1 + 2 * 3
        assert all(v.path.endswith(which) for v in found)
        assert len({id(v) for v in found}) == len(found)


@pytest.mark.parametrize("bias, scale", [(8.0, 1.0), (1.0, 0.0), (64.0, 0.5)])
def test_the_bn_multipliers_scale_only_their_parameters_first_step(bias, scale):
    def one_step(**multipliers):
        runner = toys.toy_runner(
            with_eval=False,
            shuffle=False,
            parts=[BatchNormRateMultipliers(**multipliers)] if multipliers else [],
        )
        variables = runner.model.trainable_variables
        before = [v.numpy() for v in variables]
        runner.run_steps(runner.train_iterator(), 1)
        kinds = [v.path.rsplit("/", 1)[-1] for v in variables]
        return [v.numpy() - b for v, b in zip(variables, before, strict=True)], kinds

    plain, kinds = one_step()
    scaled, _ = one_step(bias=bias, scale=scale)
    assert kinds.count("beta") == kinds.count("gamma") == 1
    for kind in ("beta", "gamma"):  # both moved in the plain step
        assert np.abs(plain[kinds.index(kind)]).max() > 1e-4
    factors = {"beta": bias, "gamma": scale}
    for delta, kind, got in zip(plain, kinds, scaled, strict=True):
        want = factors.get(kind, 1.0) * delta
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "field, changes",
    [
        ("bn_bias_lr_multiplier", dict(optimizer="adam")),
        ("bn_bias_lr_multiplier", dict(optimizer="sgd", clip_grad_norm=1.0)),
        ("bn_scale_lr_multiplier", dict(optimizer="lion")),
        ("bn_scale_lr_multiplier", dict(optimizer="muon")),
    ],
)
def test_the_bn_multipliers_need_sgd_without_clipping(field, changes):
    cfg = dataclasses.replace(
        TrainConfig(), **{field: 0.5 if "scale" in field else 64.0}, **changes
    )
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    assert info.value.name == field and "sgd" in str(info.value)
    # 0 (frozen) is the one multiplier every optimizer honours
    frozen = dataclasses.replace(cfg, **{field: 0.0}).validate()
    assert getattr(frozen, field) == 0.0


@pytest.mark.parametrize("name", ["muon", "adam"])
def test_a_zero_multiplier_freezes_batch_norm_scales_under_any_optimizer(name):
    cfg = TrainConfig(optimizer=name, bn_scale_lr_multiplier=0.0, weight_decay=1e-3).validate()
    runner = toys.toy_runner(
        with_eval=False,
        optimizer=cfg,
        learning_rate=1e-2,
        parts=[BatchNormRateMultipliers(scale=0.0)],
    )
    variables = runner.model.trainable_variables
    before = {v.path: v.numpy() for v in variables}
    runner.run_steps(runner.train_iterator(), 3)
    moved = {v.path: bool(np.any(v.numpy() != before[v.path])) for v in variables}
    assert not any(m for p, m in moved.items() if p.endswith("gamma")), moved
    assert all(m for p, m in moved.items() if not p.endswith("gamma")), moved
