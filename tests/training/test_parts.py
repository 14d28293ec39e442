"""The step's parts, one by one: what each does to the gradients or the weights, the state it
checkpoints (under version 0.2's keys) and restores; and how the runner takes them."""

import types

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import StepRunner, StepSettings, TrainConfig
from deepnets.training.loop import parts
from deepnets.training.loop.parts.base import PartSetup
from deepnets.training.run.step_parts import parts_from_config


def setup(model=None, total_steps=8, loss_scale=None):
    model = model or toys.toy_model()
    return PartSetup(
        strategy=tf.distribute.get_strategy(),
        model=model,
        model_fn=toys.toy_model,
        total_steps=total_steps,
        loss_scale=lambda: loss_scale,
    )


def head_model():
    """The toy model with a head: its last layer named "classifier" (see `BackboneSplit`)."""
    init = tf.keras.initializers.GlorotUniform(seed=0)
    return tf.keras.Sequential(
        [
            tf.keras.Input(toys.IMAGE_SHAPE),
            tf.keras.layers.Conv2D(8, 3, kernel_initializer=init),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.ReLU(),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(toys.NUM_CLASSES, kernel_initializer=init, name="classifier"),
        ]
    )


# Every part, as the runner makes it from a config, with the checkpoint keys its state had in
# version 0.2's run folders (a 0.2 folder resumes only if they stay the same).
EXAMPLES = {
    parts.L2Decay: (lambda: parts.L2Decay(5e-4), set()),
    parts.BatchNormRateMultipliers: (lambda: parts.BatchNormRateMultipliers(64.0, 0.0), set()),
    parts.FrozenBackbone: (lambda: parts.FrozenBackbone(2), set()),
    parts.BackboneOptimizer: (
        lambda: parts.BackboneOptimizer(lambda v: tf.keras.optimizers.SGD(0.01)),
        {"backbone_optimizer"},
    ),
    parts.GradientNorms: (parts.GradientNorms, set()),
    parts.Lookahead: (lambda: parts.Lookahead(2, 0.9), {"lookahead"}),
    parts.EMA: (lambda: parts.EMA(0.9), {"ema_model"}),
}


def test_every_part_has_an_example_here():
    exported = {getattr(parts, name) for name in parts.__all__}
    assert exported - {parts.StepPart, parts.PartSetup} == set(EXAMPLES)


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda kind: kind.__name__)
def test_each_part_checkpoints_under_the_keys_of_version_0_2(kind):
    make, keys = EXAMPLES[kind]
    part = make()
    part.build(setup(head_model()))
    assert set(part.checkpoint_objects()) == keys


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda kind: kind.__name__)
def test_each_part_trains_in_a_runner_and_its_state_resumes(kind, tmp_path):
    """Two steps, a checkpoint, a new runner restored from it: the part's state came back."""
    make, keys = EXAMPLES[kind]

    def runner():
        return toys.toy_runner(with_eval=False, model_fn=head_model, total_steps=8, parts=[make()])

    first = runner()
    first.train(0, 2)  # a FrozenBackbone's phase, for it
    first.train(2, 2)
    first.sync_state()
    saved = {key: _values(value) for key, value in first.checkpoint_objects().items()}
    path = tf.train.Checkpoint(**first.checkpoint_objects()).save(str(tmp_path / "ckpt"))
    second = runner()
    tf.train.Checkpoint(**second.checkpoint_objects()).restore(path).assert_consumed()
    second.restored()
    second.sync_state()
    for key in {"model", "optimizer", *keys}:
        for got, want in zip(_values(second.checkpoint_objects()[key]), saved[key], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=key)


def _values(trackable):
    variables = getattr(trackable, "variables", None)
    variables = variables() if callable(variables) else variables
    return [np.asarray(v.numpy()) for v in variables]


def test_l2_decay_adds_its_share_of_coefficient_times_kernel():
    model = toys.toy_model()
    part = parts.L2Decay(0.1)
    part.build(setup(model, loss_scale=tf.constant(4.0)))
    variables = model.trainable_variables
    grads = part.transform_gradients([tf.zeros_like(v) for v in variables], variables)
    for g, v in zip(grads, variables, strict=True):
        want = 0.1 * 4.0 * v.numpy() if len(v.shape) >= 2 else 0.0  # scaled like the loss
        np.testing.assert_allclose(g.numpy(), np.broadcast_to(want, v.shape), rtol=1e-6)


def test_batch_norm_multipliers_scale_only_offsets_and_scales():
    model = toys.toy_model()
    part = parts.BatchNormRateMultipliers(bias=8.0, scale=0.0)
    part.build(setup(model))
    variables = model.trainable_variables
    grads = part.transform_gradients([tf.ones_like(v) for v in variables], variables)
    factors = {"beta": 8.0, "gamma": 0.0}
    for g, v in zip(grads, variables, strict=True):
        want = factors.get(v.path.rsplit("/", 1)[-1], 1.0)
        np.testing.assert_array_equal(g.numpy(), np.full(v.shape, want, np.float32))


def test_frozen_backbone_differentiates_the_head_with_the_backbone_in_inference_mode():
    model = head_model()
    part = parts.FrozenBackbone(3)
    part.build(setup(model))
    assert part.frozen_steps == 3 and part.trained(frozen=False) is None
    forward, variables = part.trained(frozen=True)
    assert [v.path for v in variables] == [v.path for v in model.layers[-1].trainable_variables]
    images = toys.toy_arrays(8)[0]
    statistics = [w.numpy().copy() for w in model.non_trainable_weights]
    np.testing.assert_allclose(forward(images).numpy(), model(images, training=False).numpy())
    for got, want in zip(model.non_trainable_weights, statistics, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)  # BatchNorm statistics untouched


def test_backbone_optimizer_applies_the_backbone_and_leaves_the_head():
    model = head_model()
    part = parts.BackboneOptimizer(lambda v: tf.keras.optimizers.SGD(1.0))
    part.build(setup(model))
    head = model.layers[-1].trainable_variables
    assert [v.path for v in part.optimizer_variables(model.trainable_variables)] == [
        v.path for v in head
    ]
    before = [v.numpy().copy() for v in model.trainable_variables]
    pairs = [(tf.ones_like(v), v) for v in model.trainable_variables]
    left = part.apply_gradients(pairs, frozen=False)
    assert [v.path for _, v in left] == [v.path for v in head]
    for v, b in zip(model.trainable_variables, before, strict=True):
        is_head = any(v is h for h in head)
        np.testing.assert_allclose(v.numpy(), b if is_head else b - 1.0, err_msg=v.path)
    assert part.apply_gradients(left, frozen=True) == left  # frozen: the head's alone, for later


def test_gradient_norms_record_on_the_last_step_only():
    model = toys.toy_model()
    part = parts.GradientNorms()
    part.build(setup(model, loss_scale=tf.constant(2.0)))
    grads = [tf.fill(v.shape, 2.0) for v in model.trainable_variables]  # scaled by 2
    part.observe_gradients(grads, frozen=False, last=tf.constant(False))
    assert all(n == 0 for n in part.loop_metrics(frozen=False)["gradient_norms"].values())
    part.observe_gradients(grads, frozen=False, last=tf.constant(True))
    norms = part.loop_metrics(frozen=False)["gradient_norms"]
    for layer in model.layers:
        if layer.trainable_variables:
            size = sum(int(np.prod(v.shape)) for v in layer.trainable_variables)
            assert norms[layer.name] == pytest.approx(np.sqrt(size), rel=1e-6)  # unscaled: 1s
    assert part.loop_metrics(frozen=True) == {} and part.loop_reports == {"gradient_norms"}


def test_ema_averages_after_updates_and_is_the_model_exported():
    model = toys.toy_model()
    part = parts.EMA(0.5)
    part.build(setup(model))
    start = [w.numpy().copy() for w in model.weights]
    for w in model.weights:
        w.assign(w + 1.0)
    part.after_update(tf.constant(1000, tf.int64))  # the warm-up is over: decay 0.5
    part.sync()
    exported = part.export_model(model)
    assert exported is not model
    for got, want in zip(exported.weights, start, strict=True):
        np.testing.assert_allclose(got.numpy(), want + 0.5, rtol=1e-6, atol=1e-6)


def test_lookahead_pulls_the_weights_back_when_due():
    model = toys.toy_model()
    part = parts.Lookahead(2, 0.9)
    part.build(setup(model, total_steps=2))
    start = [w.numpy().copy() for w in model.weights]
    for w in model.weights:
        w.assign(w + 1.0)
    part.after_update(tf.constant(1, tf.int64))  # not due
    for got, want in zip(model.weights, start, strict=True):
        np.testing.assert_allclose(got.numpy(), want + 1.0)
    part.after_update(tf.constant(2, tf.int64))  # due, at the end: d = 0.9 ** 2
    for got, want in zip(model.weights, start, strict=True):
        np.testing.assert_allclose(got.numpy(), want + 1.0 - 0.81, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: parts.L2Decay(-1.0), "L2Decay coefficient must be >= 0, got -1.0"),
        (lambda: parts.BatchNormRateMultipliers(scale=-2), "scale must be >= 0"),
        (lambda: parts.FrozenBackbone(-1), "FrozenBackbone steps must be >= 0, got -1"),
        (lambda: parts.EMA(1.0), r"EMA decay must be in \(0, 1\), got 1.0"),
        (lambda: parts.Lookahead(0), "Lookahead steps must be a positive"),
        (lambda: parts.Lookahead(5, decay=0.0), r"Lookahead decay must be in \(0, 1\)"),
    ],
)
def test_bad_part_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------ the runner and parts


def test_a_part_serves_one_runner():
    ema = parts.EMA(0.9)
    toys.toy_runner(with_eval=False, parts=[ema])
    with pytest.raises(ValueError, match="this EMA part is already in a StepRunner"):
        toys.toy_runner(with_eval=False, parts=[ema])


def test_two_parts_on_one_checkpoint_key_are_refused():
    runner = toys.toy_runner(with_eval=False, parts=[parts.EMA(0.9), parts.EMA(0.99)])
    with pytest.raises(ValueError, match="EMA checkpoints 'ema_model', a key already taken"):
        runner.checkpoint_objects()


@pytest.mark.parametrize(
    "option, names",
    [
        (dict(l2_decay=5e-4), "parts=[L2Decay(l2_decay)]"),
        (dict(ema_decay=0.99), "parts=[EMA(decay)]"),
        (dict(freeze_backbone_steps=4), "parts=[FrozenBackbone(steps"),
        (dict(backbone_optimizer_fn=None), "parts=[BackboneOptimizer(optimizer_fn"),
        (dict(log_gradient_norms=True), "parts=[GradientNorms()]"),
        (dict(lookahead_steps=5), "parts=[Lookahead(steps, decay)]"),
        (dict(bn_scale_lr_multiplier=0.0), "parts=[BatchNormRateMultipliers("),
        (dict(steps_per_epoch=8), "StepSettings(steps_per_epoch="),
        (dict(jit_compile=True), "StepSettings(jit_compile="),
        (dict(stepz=1), "unexpected keyword argument 'stepz'"),
    ],
)
def test_version_0_2_options_name_what_replaces_them(option, names):
    settings = StepSettings(steps_per_epoch=8, global_batch_size=32, num_classes=4)
    with pytest.raises(TypeError) as info:
        StepRunner(None, toys.toy_model, None, None, settings, **option)
    assert names in str(info.value)


def test_a_runner_without_settings_says_what_it_needs():
    with pytest.raises(TypeError, match=r"needs settings=StepSettings\(steps_per_epoch="):
        StepRunner(None, toys.toy_model, None, None)


def test_the_config_maps_to_parts_in_the_order_the_step_applies_them():
    everything = TrainConfig(
        weight_decay=5e-4,
        bn_bias_lr_multiplier=64.0,
        backbone_learning_rate_multiplier=0.1,
        log_gradient_norms=True,
        lookahead_steps=5,
        ema_decay=0.99,
    )
    plan = types.SimpleNamespace(config=everything, freeze_backbone_steps=6, mixed_precision=None)
    made = parts_from_config(plan, 0.1)
    assert [type(p) for p in made] == [
        parts.L2Decay,
        parts.BatchNormRateMultipliers,
        parts.FrozenBackbone,
        parts.BackboneOptimizer,
        parts.GradientNorms,
        parts.Lookahead,
        parts.EMA,
    ]
    assert (made[0].coefficient, made[1].bias, made[1].scale) == (5e-4, 64.0, 1.0)
    assert (made[2].frozen_steps, made[5].steps, made[6].decay) == (6, 5, 0.99)
    decoupled = TrainConfig(optimizer="adamw", weight_decay=0.05)  # decayed by the optimizer
    plain = types.SimpleNamespace(config=decoupled, freeze_backbone_steps=0, mixed_precision=None)
    assert parts_from_config(plain, 0.1) == []


def test_the_example_part_of_the_docs_and_its_test_work(monkeypatch):
    """docs/adding-a-training-option.md: its part file and its test file, run as written."""
    import linecache
    import re
    import sys
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "adding-a-training-option.md"
    part_file, test_file = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    module = types.ModuleType("deepnets.training.loop.parts.clip_values")
    filename = "docs/clip_values.py"  # AutoGraph reads the source it converts: give it the block
    linecache.cache[filename] = (len(part_file), None, part_file.splitlines(True), filename)
    exec(compile(part_file, filename, "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = {}
    exec(compile(test_file, str(doc), "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()
    with pytest.raises(ValueError, match="ClipGradientValues limit must be > 0, got 0"):
        module.ClipGradientValues(0)
