"""What a user sees of a run: a progress line per loop, TensorBoard scalars and metrics.csv.

Only the chief writes files; other workers get `enabled=False` reporters that do nothing.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from deepnets.training.run_folder.atomic import atomic_write_text
from deepnets.training.runtime.faults import fault_point

# "data_loss": the cross-entropy of the examples (label smoothing included), without any weight
# decay: the loop applies decay in the update, not through the loss.
CSV_FIELDS = (
    "step",
    "epoch",
    "split",
    "data_loss",
    "top1",
    "top5",
    "learning_rate",
    "images_per_sec",
    "examples",
)


def format_duration(seconds: float) -> str:
    """Formats seconds as H:MM:SS (or "?" when unknown).

    Args:
        seconds: a duration.

    Returns:
        e.g. "0:03:12".
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_train_line(
    *,
    step: int,
    total_steps: int,
    epoch: int,
    total_epochs: int,
    metrics: Mapping[str, float],
    learning_rate: float | None,
    images_per_sec: float,
    eta_seconds: float,
) -> str:
    """One progress line for a finished loop.

    Args:
        step: steps done so far.
        total_steps: steps in the whole run.
        epoch: current epoch, 1-based.
        total_epochs: epochs in the whole run.
        metrics: the loop's {"loss", "top1", ...} (accuracy as a fraction).
        learning_rate: the rate of the loop's last step (None: not shown).
        images_per_sec: throughput of the loop.
        eta_seconds: estimated time to the end of the run.

    Returns:
        e.g. "step 120/1000 (12.0%) | epoch 2/8 | loss 1.2345 | top-1 56.25% | lr 0.0950 | ...".
    """
    rate = "" if learning_rate is None else f"lr {learning_rate:.4g} | "
    return (
        f"step {step}/{total_steps} ({100.0 * step / total_steps:.1f}%) | "
        f"epoch {epoch}/{total_epochs} | data loss {metrics['loss']:.4f} | "
        f"top-1 {100.0 * metrics['top1']:.2f}% | {rate}"
        f"{images_per_sec:,.0f} img/s | ETA {format_duration(eta_seconds)}"
    )


def format_eval_line(step: int, metrics: Mapping[str, float]) -> str:
    """One line for an evaluation result.

    Args:
        step: the step the evaluated weights come from.
        metrics: {"loss", "top1", "top5", "examples"}.

    Returns:
        e.g. "eval @ step 390 | loss 0.9876 | top-1 65.43% | top-5 97.10% | 10000 examples".
    """
    return (
        f"eval @ step {step} | loss {metrics['loss']:.4f} | top-1 {100.0 * metrics['top1']:.2f}% "
        f"| top-5 {100.0 * metrics['top5']:.2f}% | {metrics['examples']:.0f} examples"
    )


class MetricsCsv:
    """Appends one row per train loop and per evaluation to `metrics.csv`.

    On resume the rows written after the restored checkpoint (by a run that died before its
    next checkpoint) are dropped first, so every step appears once per split; the file is
    rewritten atomically for that, and a last line cut short by a kill is dropped too. Each row
    is appended with one write and flushed, so the file never holds half a row for long.

    Args:
        path: the CSV path.
        resume_step: the step training restarts from; rows with a larger step are removed.
        enabled: False on non-chief workers (no file is touched).
    """

    def __init__(self, path: str, resume_step: int, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        kept = [row for row in read_metrics_csv(path) if int(row["step"]) <= resume_step]
        lines = [_csv_line(CSV_FIELDS)] + [
            _csv_line(row.get(k, "") for k in CSV_FIELDS) for row in kept
        ]
        atomic_write_text(path, "".join(lines))

    def append(self, row: Mapping[str, Any]) -> None:
        """Writes one row (missing fields are left empty) with one write, and flushes it."""
        if not self.enabled:
            return
        row = {**row, "data_loss": row.get("loss", row.get("data_loss", ""))}
        line = _csv_line(_csv_value(row.get(k, "")) for k in CSV_FIELDS)
        fault_point("metrics.csv.append", self.path)
        with open(self.path, "a", newline="") as f:
            f.write(line)


def _csv_line(values: Any) -> str:
    return csv_text([values])


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.7g}"
    return value


def read_metrics_csv(path: str) -> list[dict[str, str]]:
    """Reads `metrics.csv` rows as dicts of strings ([] if the file does not exist).

    Args:
        path: the CSV path.

    Returns:
        The rows in file order.
    """
    return read_step_rows(path)


def read_step_rows(path: str) -> list[dict[str, str]]:
    """The rows of a CSV file whose first column is "step" ([] when there is no file).

    A last line without its newline (a write cut short) and rows without a step are skipped.
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = csv.DictReader(io.StringIO(text))
    return [row for row in rows if (row.get("step") or "").isdigit()]


def csv_text(rows: Any) -> str:
    """Rows of values as CSV text, each row ending in a newline."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(list(row) for row in rows)
    return buffer.getvalue()


def _scalar_metadata() -> summary_pb2.SummaryMetadata:
    # What `tf.summary.scalar` attaches, built here because `tf.summary.scalar` needs the
    # tensorboard package, which TensorFlow 2.21 no longer installs: the "scalars" plugin with an
    # empty (version 0) ScalarPluginData, marked as scalar data.
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars", content=b""),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )


class TensorBoardLogger:
    """Writes scalars under `train/...` and `eval/...` to `model_dir/tensorboard`.

    The event files are written with core TensorFlow ops only (no tensorboard package needed to
    write them); TensorBoard shows them as ordinary scalar plots.

    Args:
        logdir: the event-file folder.
        enabled: False on non-chief workers (a no-op writer is used).
    """

    def __init__(self, logdir: str, enabled: bool = True) -> None:
        self.logdir = logdir
        if enabled:
            self._writer = tf.summary.create_file_writer(logdir)
        else:
            self._writer = tf.summary.create_noop_writer()

    def scalars(self, split: str, values: Mapping[str, float], step: int) -> None:
        """Writes `split/name` = value for each finite value.

        Args:
            split: "train" or "eval".
            values: name -> number.
            step: the global step.
        """
        metadata = _scalar_metadata()
        with self._writer.as_default(step=step):
            for name, value in values.items():
                if value is not None and math.isfinite(value):
                    tf.summary.write(
                        f"{split}/{name}", tf.constant(value, tf.float32), metadata=metadata
                    )
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._writer.close()
