"""What a user sees: progress lines, metrics.csv on resume, TensorBoard events.

curves.png is tested in test_plotting.py.
"""

import glob
import os

import tensorflow as tf

from deepnets.training.reports.reporting import (
    MetricsCsv,
    TensorBoardLogger,
    format_duration,
    format_eval_line,
    format_train_line,
    read_metrics_csv,
)


def test_progress_line_shows_step_epoch_loss_accuracy_rate_speed_eta():
    line = format_train_line(
        step=120,
        total_steps=1000,
        epoch=2,
        total_epochs=8,
        metrics={"loss": 1.23456, "top1": 0.5625},
        learning_rate=0.095,
        images_per_sec=1234.4,
        eta_seconds=192,
    )
    assert line == (
        "step 120/1000 (12.0%) | epoch 2/8 | data loss 1.2346 | top-1 56.25% | lr 0.095 | "
        "1,234 img/s | ETA 0:03:12"
    )
    eval_line = format_eval_line(390, {"loss": 0.5, "top1": 0.8, "top5": 0.99, "examples": 10000})
    assert eval_line == (
        "eval @ step 390 | loss 0.5000 | top-1 80.00% | top-5 99.00% | 10000 examples"
    )
    assert format_duration(3725) == "1:02:05" and format_duration(float("nan")) == "?"


def test_metrics_csv_drops_rows_after_the_resumed_step(tmp_path):
    path = str(tmp_path / "metrics.csv")
    first = MetricsCsv(path, resume_step=0)
    for step in (10, 20, 30):
        first.append({"step": step, "split": "train", "loss": 1.0 / step})
    first.append({"step": 20, "split": "eval", "loss": 0.5})
    # The run died after step 30 but its last checkpoint is step 20: rows of 30 are redone.
    resumed = MetricsCsv(path, resume_step=20)
    resumed.append({"step": 30, "split": "train", "loss": 0.03})
    rows = read_metrics_csv(path)
    assert [(int(r["step"]), r["split"]) for r in rows] == [
        (10, "train"),
        (20, "train"),
        (20, "eval"),
        (30, "train"),
    ]
    assert float(rows[-1]["data_loss"]) == 0.03


def test_disabled_csv_writes_nothing(tmp_path):
    path = str(tmp_path / "metrics.csv")
    MetricsCsv(path, resume_step=0, enabled=False).append({"step": 1})
    assert not os.path.exists(path)


def test_tensorboard_events_hold_scalars(tmp_path):
    logger = TensorBoardLogger(str(tmp_path))
    logger.scalars("train", {"loss": 2.5, "top1": 0.25, "bad": float("nan")}, step=7)
    logger.close()
    (events,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    found = {}
    for event in tf.compat.v1.train.summary_iterator(events):
        for value in event.summary.value:
            found[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
            assert value.metadata.plugin_data.plugin_name == "scalars"
    assert found == {"train/loss": (7, 2.5), "train/top1": (7, 0.25)}
