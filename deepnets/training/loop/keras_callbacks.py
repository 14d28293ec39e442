"""Keras callbacks in the custom loop: `keras.callbacks.Callback` objects called as `fit` calls
them, and `model.stop_training` honoured.

The loop runs several steps per `tf.function` call, like `fit` with `steps_per_execution`, and
calls the callbacks as `fit` does then: `on_train_batch_begin(batch)` before a loop, with
`batch` the index within its epoch of the loop's first step (0-based), and
`on_train_batch_end(batch, logs)` after it, with `batch` the index of its last step and the
loop's training metrics. `on_epoch_end(epoch, logs)` comes after the epoch's evaluation, with
the epoch's training metrics (averaged over its examples), `val_*` from that evaluation and the
learning rate. A resumed run calls `on_train_begin` again, from the resumed step's epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.loop.epochs import epochs_begun
from deepnets.training.loop.results import TrainResult

keras = tf.keras


def _logs(metrics: Mapping[str, float], prefix: str = "") -> dict[str, float]:
    return {prefix + name: float(value) for name, value in metrics.items() if name != "examples"}


class KerasCallbacks(Action):
    """Calls Keras callbacks at the loop's train, epoch and loop (batch) boundaries.

    Args:
        callbacks: `keras.callbacks.Callback` objects (`EarlyStopping`, `CSVLogger`, ...).
        model: the trained Keras model (`callback.model`; its `stop_training` ends the run
            cleanly after the current loop).
        steps_per_epoch: steps per epoch (the callbacks' `params["steps"]`).
    """

    def __init__(
        self,
        callbacks: Sequence[keras.callbacks.Callback],
        model: keras.Model,
        steps_per_epoch: int,
    ) -> None:
        self.model = model
        self.steps_per_epoch = steps_per_epoch
        self.callbacks = keras.callbacks.CallbackList(list(callbacks), model=model)
        self._names = ", ".join(type(callback).__name__ for callback in callbacks)
        self._total_steps = 0
        self._epoch: int | None = None  # the epoch begun and not yet ended
        self._sums: dict[str, float] = {}
        self._examples = 0.0
        self._learning_rate: float | None = None
        self._val_logs: dict[str, float] = {}
        self._epoch_logs: dict[str, float] = {}
        self._training = False

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        self._total_steps = total_steps
        epochs = epochs_begun(total_steps, self.steps_per_epoch)
        self.callbacks.set_params({"epochs": epochs, "steps": self.steps_per_epoch, "verbose": 0})
        self.model.stop_training = False
        self._training = True
        self.callbacks.on_train_begin({})

    def on_loop_begin(self, step: int, num_steps: int) -> None:
        epoch, batch = divmod(step, self.steps_per_epoch)
        if self._epoch is None:
            self._epoch, self._sums, self._examples, self._val_logs = epoch, {}, 0.0, {}
            self.callbacks.on_epoch_begin(epoch, {})
        self.callbacks.on_train_batch_begin(batch)

    def on_train_loop(self, report: LoopReport) -> None:
        logs = _logs(report.metrics)
        if report.learning_rate is not None:
            logs["learning_rate"] = self._learning_rate = float(report.learning_rate)
        examples = float(report.metrics.get("examples", report.num_steps))
        for name, value in _logs(report.metrics).items():
            self._sums[name] = self._sums.get(name, 0.0) + value * examples
        self._examples += examples
        start = self._epoch * self.steps_per_epoch
        self.callbacks.on_train_batch_end(report.step - 1 - start, logs)

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self._val_logs = _logs(metrics, "val_")

    def on_loop_end(self, step: int) -> None:
        if step % self.steps_per_epoch == 0 or step == self._total_steps:
            self._end_epoch()

    def _end_epoch(self) -> None:
        logs = {name: total / max(self._examples, 1.0) for name, total in self._sums.items()}
        if self._learning_rate is not None:
            logs["learning_rate"] = self._learning_rate
        logs.update(self._val_logs)
        self._epoch_logs = logs
        self.callbacks.on_epoch_end(self._epoch, logs)
        self._epoch = None

    def stop_reason(self) -> str | None:
        if not getattr(self.model, "stop_training", False):
            return None
        return f"model.stop_training was set by a Keras callback ({self._names})"

    def on_end(self, result: TrainResult) -> None:
        if self._epoch is not None and not result.preempted:  # stopped early within an epoch
            self._end_epoch()  # as `fit` ends it, with the final evaluation's `val_*`
        self._end()

    def close(self) -> None:
        self._end()  # after an error too: CSVLogger closes its file

    def _end(self) -> None:
        if self._training:
            self._training = False
            self.callbacks.on_train_end(dict(self._epoch_logs))
