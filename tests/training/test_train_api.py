"""`train(cfg)` end to end: a small ResNet learns shapes10 through the public API."""

import json
import os

import pytest
import tensorflow as tf

from deepnets.training import TrainConfig, build_model_from_config, evaluate, train

CHANCE = 0.1  # shapes10 has 10 balanced classes


def test_small_resnet_learns_shapes10_and_the_saved_model_evaluates_the_same(tmp_path):
    cfg = TrainConfig(
        model="resnet18",
        # width 8 keeps a CPU run short; BN momentum 0.9 lets the moving statistics follow
        # the weights within a run of 80 steps.
        model_overrides={"stem": "cifar", "width": 8, "bn_momentum": 0.9},
        dataset="shapes10",
        model_dir=str(tmp_path),
        epochs=None,
        train_steps=80,
        global_batch_size=64,
        learning_rate=0.1,
        schedule="cosine",
        warmup_steps=10,
        steps_per_loop=40,
    )
    result = train(cfg)
    top1 = result.eval_metrics["top1"]
    print(f"resnet18(width=8) on shapes10, 80 steps of 64: test top-1 {top1:.3f}")
    assert result.final_step == 80
    assert result.eval_metrics["examples"] == 2000  # the whole test split, padding excluded
    assert top1 > CHANCE + 0.2  # measured 0.506

    with open(tmp_path / "config.json") as f:
        assert TrainConfig.from_dict(json.load(f)) == cfg
    for name in ("metrics.csv", "curves.png", "final.keras", "saved_model/saved_model.pb"):
        assert os.path.exists(tmp_path / name), name

    model = tf.keras.models.load_model(result.final_model_path)
    reloaded = evaluate(model, "shapes10", global_batch_size=500)
    assert reloaded["examples"] == 2000
    assert reloaded["top1"] == pytest.approx(top1, abs=1e-6)
    assert reloaded["loss"] == pytest.approx(result.eval_metrics["loss"], rel=1e-4)


def test_model_from_config_returns_logits_and_rejects_conflicting_overrides():
    cfg = TrainConfig(model="resnet18", model_overrides={"stem": "cifar", "width": 8})
    model = build_model_from_config(cfg, num_classes=10)
    logits = model(tf.random.normal((2, 32, 32, 3)), training=False)
    assert logits.shape == (2, 10)
    assert float(tf.reduce_min(logits)) < 0  # not softmax probabilities
    bad = TrainConfig(model="resnet18", model_overrides={"classifier_activation": "softmax"})
    with pytest.raises(ValueError, match=r"model_overrides\['classifier_activation'\]"):
        build_model_from_config(bad, num_classes=10)
    bad = TrainConfig(model="resnet18", model_overrides={"num_classes": 100})
    with pytest.raises(ValueError, match=r"model_overrides\['num_classes'\]=100"):
        build_model_from_config(bad, num_classes=10)


def test_evaluate_gives_the_same_numbers_for_softmax_and_logits_models():
    import deepnets

    logits_model = deepnets.build_model(
        "resnet18", num_classes=10, stem="cifar", width=8, classifier_activation=None
    )
    softmax_model = deepnets.build_model(
        "resnet18", num_classes=10, stem="cifar", width=8, classifier_activation="softmax"
    )
    logits_model.build((None, 32, 32, 3))
    softmax_model.build((None, 32, 32, 3))
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
