"""`train(cfg)` end to end, and `evaluate` on logits and probability models."""

import dataclasses
import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.data import source as source_module
from deepnets.training import (
    RunRecord,
    TrainConfig,
    evaluate,
    outputs_probabilities,
    plan_run,
    train,
)
from deepnets.training.runtime import strategy as strategy_module

CHANCE = 0.1  # shapes10 has 10 balanced classes


def small_resnet_config(tmp_path, **changes) -> TrainConfig:
    """80 steps of a width-8 ResNet-18 on shapes10."""
    return TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 8},
        dataset="shapes10",
        model_dir=str(tmp_path),
        epochs=None,
        train_steps=80,
        global_batch_size=64,
        learning_rate=0.1,
        schedule="cosine",
        warmup_steps=10,
        steps_per_loop=40,
        **changes,
    )


def test_small_resnet_learns_shapes10_and_the_saved_model_evaluates_the_same(tmp_path):
    cfg = small_resnet_config(tmp_path)
    result = train(cfg)
    top1 = result.eval_metrics["top1"]
    print(f"resnet18(width=8) on shapes10, 80 steps of 64: test top-1 {top1:.3f}")
    assert result.final_step == 80
    assert result.eval_metrics["examples"] == 2000  # the whole test split, padding excluded
    assert top1 > CHANCE + 0.2  # measured 0.506

    assert RunRecord.read(str(tmp_path)).config == cfg
    for name in ("metrics.csv", "curves.png", "final.keras", "saved_model/saved_model.pb"):
        assert os.path.exists(tmp_path / name), name

    model = tf.keras.models.load_model(result.final_model_path)
    reloaded = evaluate(model, "shapes10", global_batch_size=500)
    assert reloaded["examples"] == 2000
    assert reloaded["top1"] == pytest.approx(top1, abs=1e-6)
    assert reloaded["loss"] == pytest.approx(result.eval_metrics["loss"], rel=1e-4)


def test_the_run_and_evaluate_read_the_dataset_the_plan_opened_and_never_reopen_it(tmp_path):
    cfg = small_resnet_config(tmp_path, export_saved_model=False)
    plan = plan_run(dataclasses.replace(cfg, train_steps=4, steps_per_loop=2))
    reopened = AssertionError("the dataset was opened again by name")
    with mock.patch.object(source_module, "ShapesData", side_effect=reopened):
        result = train(plan)  # every train and eval pipeline comes from plan.source
        model = tf.keras.models.load_model(result.final_model_path)
        metrics = evaluate(model, plan.source, global_batch_size=500)
    assert result.final_step == 4 and result.eval_metrics["examples"] == 2000
    assert metrics["top1"] == pytest.approx(result.eval_metrics["top1"], abs=1e-6)


def _plain_keras(activation):
    tf.keras.utils.set_random_seed(1)
    return tf.keras.Sequential(
        [
            tf.keras.Input((32, 32, 3)),
            tf.keras.layers.Conv2D(4, 3, strides=4),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(10, activation=activation),
        ]
    )


def _deepnets(activation):
    return deepnets.build_model(
        "resnet18",
        num_classes=10,
        input_shape=(32, 32, 3),
        stem="cifar",
        width=4,
        classifier_activation=activation,
    )


@pytest.mark.parametrize("make", [_plain_keras, _deepnets], ids=["keras_sequential", "deepnets"])
def test_evaluate_gives_the_same_numbers_for_softmax_and_logits_models(make):
    logits_model, softmax_model = make(None), make("softmax")
    assert not outputs_probabilities(logits_model) and outputs_probabilities(softmax_model)
    weights = logits_model.get_weights()
    # Small logits, so that float32 softmax does not saturate and lose the loss's precision.
    weights[-2:] = [w * 0.01 for w in weights[-2:]]
    logits_model.set_weights(weights)
    softmax_model.set_weights(weights)
    from_logits = evaluate(logits_model, "shapes10", global_batch_size=1000)
    from_probabilities = evaluate(softmax_model, "shapes10", global_batch_size=1000)
    assert from_logits["examples"] == from_probabilities["examples"] == 2000
    assert from_probabilities["top1"] == pytest.approx(from_logits["top1"])
    assert from_probabilities["loss"] == pytest.approx(from_logits["loss"], rel=1e-4)


def test_a_softmax_layer_at_the_end_is_recognized():
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Softmax()(tf.keras.layers.Dense(3)(inputs)))
    assert outputs_probabilities(model)
    activation = tf.keras.Sequential([inputs, tf.keras.layers.Activation("softmax")])
    assert outputs_probabilities(activation)
    assert not outputs_probabilities(tf.keras.Sequential([inputs, tf.keras.layers.Dense(3)]))
    assert np.isfinite(model(np.zeros((1, 4), "float32")).numpy()).all()


def test_auto_precision_trains_in_bfloat16_where_the_cpu_has_bfloat16_units(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(strategy_module, "native_bfloat16", lambda: True)
    cfg = small_resnet_config(tmp_path, mixed_precision="auto", export_saved_model=False)
    result = train(cfg)
    assert "mixed_precision=auto: computing in mixed_bfloat16" in capsys.readouterr().out
    top1 = result.eval_metrics["top1"]
    print(f"resnet18(width=8) on shapes10 in bfloat16, 80 steps of 64: test top-1 {top1:.3f}")
    assert top1 > CHANCE + 0.2  # measured 0.451 (float32 on this machine: 0.373)
    model = tf.keras.models.load_model(result.final_model_path)
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert all(v.dtype == "float32" for v in model.weights)  # float32 weights, bfloat16 math
    assert RunRecord.read(str(tmp_path)).config.mixed_precision == "auto"
