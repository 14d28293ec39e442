"""Keras callbacks in the custom loop: EarlyStopping, CSVLogger, TerminateOnNaN and a callback
of one's own, called as `fit` calls them, with `model.stop_training` ending the run cleanly."""

import csv
import os

import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import LoopSettings, NonFiniteLossError, TrainConfig, run_loop

keras = tf.keras
STEPS_PER_EPOCH = 8  # 256 toy examples in batches of 32
SETTINGS = LoopSettings(total_steps=32, steps_per_epoch=STEPS_PER_EPOCH, steps_per_loop=4)


class Recorder(keras.callbacks.Callback):
    """A user's callback: records every call and its logs."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", self.params))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def scripted_val_loss(runner):
    """The evaluated loss rises after the first epoch, so that EarlyStopping stops the run."""
    real = runner.evaluate

    def evaluate():
        metrics = dict(real())
        metrics["loss"] = 0.5 + 0.1 * int(runner.optimizer.iterations.numpy()) / STEPS_PER_EPOCH
        return metrics

    runner.evaluate = evaluate
    return runner


def launch(model_dir, callbacks):
    runner = scripted_val_loss(toys.toy_runner())
    return run_loop(
        runner,
        SETTINGS,
        model_dir=model_dir,
        learning_rate=lambda step: 0.05,
        callbacks=callbacks,
        progress=False,
    )


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("run")
    csv_path = str(model_dir / "keras_log.csv")
    recorder = Recorder()
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    callbacks = [early, keras.callbacks.CSVLogger(csv_path), keras.callbacks.TerminateOnNaN()]
    result = launch(str(model_dir), [*callbacks, recorder])
    return model_dir, csv_path, recorder, early, result


def test_callbacks_are_called_at_the_loop_boundaries_with_keras_logs(stopped_run):
    _, _, recorder, _, _ = stopped_run
    calls = recorder.calls
    assert calls[0] == ("train_begin", {"epochs": 4, "steps": STEPS_PER_EPOCH, "verbose": 0})
    # Two loops of 4 steps per epoch: `batch` is the index of a loop's first and last step.
    kinds = [call[:2] for call in calls[1:8]]
    assert kinds == [
        ("epoch_begin", 0),
        ("batch_begin", 0),
        ("batch_end", 3),
        ("batch_begin", 4),
        ("batch_end", 7),
        ("epoch_end", 0),
        ("epoch_begin", 1),
    ]
    assert set(calls[3][2]) == {"loss", "top1", "top5", "learning_rate"}
    epoch_logs = calls[6][2]
    assert set(epoch_logs) == {
        "loss",
        "top1",
        "top5",
        "learning_rate",
        "val_loss",
        "val_top1",
        "val_top5",
    }
    assert epoch_logs["val_loss"] == pytest.approx(0.6)
    assert epoch_logs["learning_rate"] == pytest.approx(0.05)
    # The epoch's training loss is the mean of its two loops' (equal example counts).
    loops = [call[2]["loss"] for call in calls[1:6] if call[0] == "batch_end"]
    assert epoch_logs["loss"] == pytest.approx(sum(loops) / 2, rel=1e-5)
    assert calls[-1] == ("train_end",)


def test_early_stopping_ends_the_run_cleanly_and_a_rerun_finds_it_complete(stopped_run):
    model_dir, _, _, early, result = stopped_run
    # Epoch 0 sets the best val_loss; epoch 1 is worse: patience 1 stops after it.
    assert early.stopped_epoch == 1
    assert result.final_step == 16 and not result.preempted
    assert "model.stop_training was set by a Keras callback (EarlyStopping" in result.stopped_early
    assert result.checkpoint_path.endswith("ckpt-16")
    assert result.eval_metrics["loss"] == pytest.approx(0.7)

    recorder = Recorder()
    again = launch(str(model_dir), [recorder])
    assert again.final_step == 16 and again.stopped_early == result.stopped_early
    assert [call[0] for call in recorder.calls] == ["train_begin", "train_end"]


def test_csv_logger_writes_a_row_per_epoch(stopped_run):
    _, csv_path, _, _, _ = stopped_run
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"loss", "top1", "val_loss", "val_top1", "learning_rate"} <= set(rows[0])
    assert float(rows[1]["val_loss"]) == pytest.approx(0.7)


def test_a_nan_loss_stops_the_run_before_terminate_on_nan_and_callbacks_are_closed(tmp_path):
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    runner = toys.toy_runner(
        with_eval=False,
        model_fn=lambda: toys.toy_model(batch_norm=False),
        optimizer=TrainConfig(momentum=0.0),
        learning_rate=1e12,
    )
    with pytest.raises(NonFiniteLossError):
        run_loop(
            runner,
            SETTINGS,
            model_dir=str(tmp_path / "run"),
            callbacks=[keras.callbacks.TerminateOnNaN(), csv_logger],
            progress=False,
        )
    assert csv_logger.csv_file.closed  # on_train_end was called after the error
    assert not os.path.exists(tmp_path / "run" / "final.keras")
