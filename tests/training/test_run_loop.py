"""run_loop in this process: a runner, the controller, checkpoints and the standard reports."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import LoopSettings, NonFiniteLossError, TrainConfig, run_loop
from deepnets.training.loop.parts import L2Decay
from deepnets.training.reports.reporting import read_metrics_csv

STEPS_PER_EPOCH = 8  # 256 toy examples in batches of 32


def settings(total, steps_per_loop=4, **overrides):
    return LoopSettings(
        total_steps=total,
        steps_per_epoch=STEPS_PER_EPOCH,
        steps_per_loop=steps_per_loop,
        **overrides,
    )


def test_loop_learns_and_writes_every_report(tmp_path, capsys):
    runner = toys.toy_runner()
    result = run_loop(
        runner, settings(6 * STEPS_PER_EPOCH), model_dir=str(tmp_path), learning_rate=lambda s: 0.05
    )
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
    assert all(float(r["learning_rate"]) == 0.05 for r in rows if r["split"] == "train")
    assert result.checkpoint_path.endswith("ckpt-48")
    assert glob.glob(os.path.join(tmp_path, "tensorboard", "events.out.tfevents.*"))
    assert result.curves_png and os.path.getsize(result.curves_png) > 1000


def test_rerun_resumes_from_the_checkpoint_and_continues(tmp_path, capsys):
    run_loop(toys.toy_runner(), settings(16), model_dir=str(tmp_path))
    longer = toys.toy_runner()
    result = run_loop(longer, settings(24), model_dir=str(tmp_path))
    assert result.resumed_from.endswith("ckpt-16") and result.final_step == 24
    assert f"Resumed from {result.resumed_from} at step 16/24." in capsys.readouterr().out
    assert int(longer.optimizer.iterations.numpy()) == 24  # optimizer state came back too
    steps = [int(r["step"]) for r in read_metrics_csv(result.metrics_csv) if r["split"] == "train"]
    assert steps == [4, 8, 12, 16, 20, 24]


def test_huge_learning_rate_stops_with_the_step_and_last_good_checkpoint(tmp_path):
    runner = toys.toy_runner(
        with_eval=False,
        model_fn=lambda: toys.toy_model(batch_norm=False),
        optimizer=TrainConfig(momentum=0.0),
        learning_rate=1e12,
    )
    with pytest.raises(NonFiniteLossError) as info:
        run_loop(
            runner,
            settings(40, steps_per_loop=1, checkpoint_every_steps=1),
            model_dir=str(tmp_path),
        )
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
    "options",
    [
        dict(mixed_precision="mixed_float16"),
        dict(mixed_precision="mixed_bfloat16"),
        dict(optimizer="adam", weight_decay_mode="l2"),
        dict(optimizer="adamw", weight_decay=0.05),
        dict(nesterov=True, weight_decay_mode="decoupled"),
    ],
)
def test_training_variants_run_and_lower_the_loss(tmp_path, options):
    cfg = TrainConfig(**options)
    runner = toys.toy_runner(with_eval=False, optimizer=cfg, learning_rate=0.01)
    before = [w.copy() for w in runner.model.get_weights()]
    result = run_loop(runner, settings(16), model_dir=str(tmp_path))
    losses = [float(r["data_loss"]) for r in read_metrics_csv(result.metrics_csv)]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    after = runner.model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    if "mixed_precision" in options:
        compute = options["mixed_precision"].split("_")[1]
        assert runner.model.layers[0].compute_dtype == compute
        assert all(v.dtype == "float32" for v in runner.model.trainable_variables)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored afterwards


def test_reported_loss_is_the_smoothed_data_loss_without_the_l2_term():
    runner = toys.toy_runner(with_eval=False, label_smoothing=0.3, parts=[L2Decay(0.1)])
    reported = runner.train(0, 1)
    # The same first batch through the same initial weights (BatchNorm in training mode).
    images, labels = next(iter(toys.make_train_input_fn(32)(_one_pipeline(), 0)))
    logits = toys.toy_model()(images, training=True)
    targets = tf.one_hot(labels, toys.NUM_CLASSES) * 0.7 + 0.3 / toys.NUM_CLASSES
    expected = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
    assert reported["examples"] == 32
    assert reported["loss"] == pytest.approx(float(expected), rel=1e-5)


def _one_pipeline():
    return tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1
    )


def test_docs_custom_loop_snippet_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    snippet = next(
        block
        for block in re.findall(r"```python\n(.*?)```", page, re.S)
        if "run_loop(runner" in block
    )
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "docs/training.md", "exec"), namespace)
    result = namespace["result"]
    assert result.final_step == 16 and result.checkpoint_path.endswith("ckpt-16")
    assert (tmp_path / "runs" / "mine" / "metrics.csv").exists()
