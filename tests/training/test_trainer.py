"""The Trainer in this process, on one CPU device: it learns, reports, saves, guards NaNs."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import Evaluator, NonFiniteLossError, TrainConfig, Trainer
from deepnets.training.reporting import read_metrics_csv

GLOBAL_BATCH = 32
STEPS_PER_EPOCH = 256 // GLOBAL_BATCH


def make_trainer(model_dir, *, batch_norm=True, with_eval=True, **overrides):
    fields = dict(
        model="toy",
        dataset="toy",
        model_dir=str(model_dir),
        epochs=None,
        train_steps=16,
        global_batch_size=GLOBAL_BATCH,
        learning_rate=0.05,
        schedule="constant",
        steps_per_loop=4,
    )
    fields.update(overrides)
    return Trainer(
        TrainConfig(**fields),
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        lambda: toys.toy_model(batch_norm=batch_norm),
        toys.make_train_input_fn(GLOBAL_BATCH),
        steps_per_epoch=STEPS_PER_EPOCH,
        input_shape=toys.IMAGE_SHAPE,
        num_classes=toys.NUM_CLASSES,
        eval_input_fn=toys.make_eval_input_fn(GLOBAL_BATCH) if with_eval else None,
    )


def test_trainer_learns_and_writes_every_artifact(tmp_path, capsys):
    trainer = make_trainer(
        tmp_path, train_steps=6 * STEPS_PER_EPOCH, schedule="cosine", warmup_steps=4
    )
    result = trainer.fit()
    keras_path, saved_model_path = trainer.save_final_model()
    out = capsys.readouterr().out
    print(f"toy eval top-1 after {result.final_step} steps: {result.eval_metrics['top1']:.3f}")

    assert result.final_step == 48 and not result.preempted and result.resumed_from is None
    assert result.eval_metrics["top1"] > 0.6  # chance is 0.25; measured about 0.9
    assert result.eval_metrics["examples"] == 100
    assert "step 48/48 (100.0%) | epoch 6/6" in out and "eval @ step 48" in out

    rows = read_metrics_csv(result.metrics_csv)
    train_steps = [int(r["step"]) for r in rows if r["split"] == "train"]
    eval_steps = [int(r["step"]) for r in rows if r["split"] == "eval"]
    assert train_steps == list(range(4, 49, 4))
    assert eval_steps == list(range(8, 49, 8))  # once per epoch
    assert result.checkpoint_path.endswith("ckpt-48")
    assert glob.glob(os.path.join(tmp_path, "tensorboard", "events.out.tfevents.*"))
    assert os.path.getsize(result.curves_png) > 1000

    images = toys.toy_arrays(5, seed=11)[0]
    expected = trainer.model(images, training=False).numpy()
    reloaded = tf.keras.models.load_model(keras_path)
    np.testing.assert_allclose(reloaded(images, training=False).numpy(), expected, atol=1e-5)
    exported = tf.saved_model.load(saved_model_path)
    served = exported.serve(images).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_eval_counts_every_example_once_and_ignores_padding():
    model = toys.toy_model(batch_norm=False)
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, model, toys.NUM_CLASSES)
    # 100 examples in batches of 32: the last batch holds 4 real examples and 28 of padding.
    dataset = strategy.distribute_datasets_from_function(toys.make_eval_input_fn(32))
    got = evaluator.evaluate(dataset)
    images, labels = toys.toy_arrays(100, seed=7)
    logits = model(images).numpy()
    log_probs = tf.nn.log_softmax(logits).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :4]  # k = min(5, 4 classes)
    assert got["examples"] == 100
    assert got["loss"] == pytest.approx(-log_probs[np.arange(100), labels].mean(), rel=1e-5)
    assert got["top1"] == pytest.approx((logits.argmax(1) == labels).mean())
    assert got["top5"] == pytest.approx((top5 == labels[:, None]).any(1).mean())


def test_huge_learning_rate_stops_with_the_step_and_last_good_checkpoint(tmp_path):
    trainer = make_trainer(
        tmp_path,
        batch_norm=False,
        with_eval=False,
        learning_rate=1e12,
        momentum=0.0,
        train_steps=40,
        steps_per_loop=1,
        checkpoint_every_steps=1,
    )
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit()
    err = info.value
    assert err.first_step == err.last_step > 1
    assert f"step {err.last_step};" in str(err)
    assert err.last_good_checkpoint is not None and err.last_good_checkpoint in str(err)
    # Nothing was saved for the bad step: the newest checkpoint is the step before it.
    assert err.last_good_checkpoint.endswith(f"ckpt-{err.last_step - 1}")
    model = toys.toy_model(batch_norm=False)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(model=model, step=step).restore(err.last_good_checkpoint).expect_partial()
    assert int(step.numpy()) == err.last_step - 1
    assert all(np.isfinite(w).all() for w in model.get_weights())
    rows = read_metrics_csv(os.path.join(tmp_path, "metrics.csv"))
    assert max(int(r["step"]) for r in rows) == err.last_step - 1


@pytest.mark.parametrize(
    "overrides",
    [
        dict(mixed_precision="mixed_float16"),
        dict(mixed_precision="mixed_bfloat16"),
        dict(optimizer="adam", learning_rate=1e-2, schedule="step", decay_epochs=(1,)),
        dict(optimizer="adamw", learning_rate=1e-2, label_smoothing=0.1, weight_decay=0.05),
        dict(nesterov=True, weight_decay_mode="decoupled"),
    ],
)
def test_training_variants_run_and_lower_the_loss(tmp_path, overrides):
    trainer = make_trainer(tmp_path, with_eval=False, train_steps=16, **overrides)
    before = [w.copy() for w in trainer.model.get_weights()]
    result = trainer.fit()
    rows = read_metrics_csv(result.metrics_csv)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert any(
        not np.array_equal(a, b) for a, b in zip(before, trainer.model.get_weights(), strict=True)
    )
    if "mixed_precision" in overrides:
        compute = overrides["mixed_precision"].split("_")[1]
        assert trainer.model.layers[0].compute_dtype == compute
        assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored afterwards


def test_log_every_steps_limits_progress_lines(tmp_path, capsys):
    trainer = make_trainer(tmp_path, with_eval=False, train_steps=24, log_every_steps=10)
    trainer.fit()
    printed = [
        line.split(" ")[1]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("step ")
    ]
    # Loops end at 4, 8, ..., 24; a line follows the loops that cross 10 and 20, and the last.
    assert printed == ["12/24", "20/24", "24/24"]
