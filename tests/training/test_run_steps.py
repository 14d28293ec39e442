"""Trainer.run_steps: the compiled loop of `fit`, driven by the caller (benchmarks, drivers)."""

import os

import numpy as np
import tensorflow as tf
import training_toys as toys

from deepnets.training import TrainConfig, Trainer

GLOBAL_BATCH = 32
STEPS_PER_EPOCH = 8


def make_trainer(model_dir, **overrides):
    fields = dict(
        model="toy",
        dataset="toy",
        model_dir=str(model_dir),
        epochs=None,
        train_steps=STEPS_PER_EPOCH,
        global_batch_size=GLOBAL_BATCH,
        learning_rate=0.05,
        schedule="constant",
        steps_per_loop=4,
        export_saved_model=False,
    )
    fields.update(overrides)
    return Trainer(
        TrainConfig(**fields),
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        lambda: toys.toy_model(batch_norm=True),
        toys.make_train_input_fn(GLOBAL_BATCH),
        steps_per_epoch=STEPS_PER_EPOCH,
        input_shape=toys.IMAGE_SHAPE,
        num_classes=toys.NUM_CLASSES,
    )


def test_run_steps_trains_and_reports_only_its_own_steps(tmp_path):
    trainer = make_trainer(tmp_path)
    iterator = trainer.train_iterator()

    first = trainer.run_steps(iterator, 3)
    assert first["examples"] == 3 * GLOBAL_BATCH
    assert int(trainer.optimizer.iterations.numpy()) == 3
    second = trainer.run_steps(iterator, 5)
    assert second["examples"] == 5 * GLOBAL_BATCH  # metrics restart with every call
    assert int(trainer.optimizer.iterations.numpy()) == 8
    assert 0 <= second["top1"] <= 1 and np.isfinite(second["loss"])
    # Nothing around the loop runs: no checkpoint, no reports.
    assert trainer.checkpoints.latest is None
    assert not os.path.exists(os.path.join(tmp_path, "metrics.csv"))


def test_run_steps_gives_the_weights_fit_gives(tmp_path):
    by_fit = make_trainer(tmp_path / "fit")
    by_fit.fit()
    by_hand = make_trainer(tmp_path / "by_hand")
    iterator = by_hand.train_iterator()
    by_hand.run_steps(iterator, 4)
    by_hand.run_steps(iterator, 4)

    for expected, actual in zip(by_fit.model.weights, by_hand.model.weights, strict=True):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
