"""--ema_decay: a moving average of the weights, evaluated, checkpointed, resumed and exported."""

import numpy as np
import tensorflow as tf
import training_toys as toys

from deepnets.training import LoopSettings, TrainConfig, restore_model, run_loop, train
from deepnets.training.loop.parts import EMA

DECAY = 0.9


def float_weights(model):
    return [w.numpy() for w in model.weights if tf.as_dtype(w.dtype).is_floating]


def test_the_average_follows_the_weights_with_a_warmed_up_decay():
    runner = toys.toy_runner(with_eval=False, parts=[EMA(DECAY)])
    iterator = runner.train_iterator()
    expected = float_weights(runner.model)  # the average starts at the initial weights
    for t in range(1, 6):
        runner.run_steps(iterator, 1)
        decay = min(DECAY, (1 + t) / (10 + t))
        expected = [
            decay * a + (1 - decay) * w
            for a, w in zip(expected, float_weights(runner.model), strict=True)
        ]
    runner.sync_state()
    got = float_weights(runner.export_model)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], float_weights(runner.model)[0])  # not the weights themselves
    assert runner.evaluator is None or runner.evaluator.model is runner.export_model


def test_a_resumed_run_continues_the_same_average(tmp_path):
    settings = dict(steps_per_epoch=8, steps_per_loop=4, checkpoint_every_steps=4)
    whole = toys.toy_runner(with_eval=False, parts=[EMA(DECAY)])
    run_loop(whole, LoopSettings(total_steps=16, **settings), model_dir=str(tmp_path / "whole"))
    first = toys.toy_runner(with_eval=False, parts=[EMA(DECAY)])
    run_loop(first, LoopSettings(total_steps=8, **settings), model_dir=str(tmp_path / "split"))
    second = toys.toy_runner(with_eval=False, parts=[EMA(DECAY)])
    result = run_loop(
        second, LoopSettings(total_steps=16, **settings), model_dir=str(tmp_path / "split")
    )
    assert result.resumed_from.endswith("ckpt-8")
    for a, b in zip(
        float_weights(second.export_model), float_weights(whole.export_model), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_run_with_an_average_exports_and_restores_the_average(tmp_path):
    cfg = TrainConfig(
        model="vgg_fast",  # the smallest: five convolutions with BatchNorm, 4 filters each
        model_overrides={"widths": (4, 4), "stem_width": 4},
        dataset="shapes10",
        model_dir=str(tmp_path),
        epochs=None,
        train_steps=6,
        steps_per_loop=3,
        global_batch_size=32,
        eval_batch_size=1000,
        ema_decay=0.99,
        export_saved_model=False,
    )
    result = train(cfg)
    final = tf.keras.models.load_model(result.final_model_path)
    restored, _, _ = restore_model(str(tmp_path))
    for a, b in zip(float_weights(final), float_weights(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    raw = tf.keras.models.clone_model(restored)
    tf.train.Checkpoint(model=raw).read(result.checkpoint_path).expect_partial()
    assert not np.allclose(float_weights(raw)[0], float_weights(final)[0])  # the trained weights
