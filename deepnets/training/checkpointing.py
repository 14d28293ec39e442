"""Checkpoints: model, optimizer (with its slots) and step, kept by a CheckpointManager.

Layout: `model_dir/checkpoints/ckpt-<step>`. Every process of a multi-worker run must take part in
a save (variables may be reduced across workers), but only the chief writes into `model_dir`;
the other workers write to a private temporary folder and delete it right away, as the
TensorFlow multi-worker guide recommends. Restores read the chief's folder on every worker
(which assumes `model_dir` is on a file system all workers see).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import tensorflow as tf

from deepnets.training.strategy import is_chief, task_identity

CHECKPOINT_SUBDIR = "checkpoints"


class CheckpointKeeper:
    """Saves and restores a run's state: the trackables given and the global step.

    Args:
        strategy: the run's strategy (decides who writes where).
        model_dir: the run folder; checkpoints go to `model_dir/checkpoints`.
        max_to_keep: number of checkpoints kept.
        **trackables: what to save besides the step, e.g. model=, optimizer=.
    """

    def __init__(
        self, strategy: tf.distribute.Strategy, model_dir: str, max_to_keep: int, **trackables: Any
    ) -> None:
        self.directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
        self._chief = is_chief(strategy)
        if self._chief:
            self._write_dir = self.directory
        else:
            _, task_id = task_identity(strategy)
            self._write_dir = tempfile.mkdtemp(prefix=f"deepnets_worker{task_id}_ckpt_")
        self._manager = tf.train.CheckpointManager(
            self.checkpoint, self._write_dir, max_to_keep=max_to_keep, checkpoint_name="ckpt"
        )

    @property
    def latest(self) -> str | None:
        """Path of the newest checkpoint in `model_dir/checkpoints`, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self) -> tuple[str | None, int]:
        """Restores the newest checkpoint, if there is one.

        The optimizer must already be built, so that its slot variables exist and are restored.

        Returns:
            (the restored path, its step), or (None, 0) when the folder holds no checkpoint.
        """
        path = self.latest
        if path is None:
            return None, 0
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return path, int(self.step.numpy())

    def save(self, step: int) -> str | None:
        """Writes a checkpoint of the current state numbered `step`.

        Returns:
            The path written by the chief (the chief's latest path on other workers).
        """
        self.step.assign(step)
        path = self._manager.save(checkpoint_number=step)
        if not self._chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
            os.makedirs(self._write_dir, exist_ok=True)
            path = None
        return path if path is not None else self.latest

    def close(self) -> None:
        """Removes a non-chief worker's temporary folder."""
        if not self._chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)


def checkpoint_step(path: str) -> int:
    """The step number of a `.../ckpt-<step>` checkpoint path."""
    return int(os.path.basename(path).rsplit("-", 1)[-1])
