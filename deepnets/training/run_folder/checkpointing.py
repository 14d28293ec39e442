"""Checkpoints of a run: model, optimizer (with its slots) and step, in `model_dir/checkpoints`.

Saving writes `ckpt-<step>` (TensorFlow writes the shards, then the index), then the `checkpoint`
state file (atomically), then deletes checkpoints beyond `max_to_keep`: a kill at any moment
leaves the previous checkpoint listed and intact. A failed write (a full disk) removes the
partial files and raises an `OutputWriteError` after reading the previous checkpoint back.

Restoring takes the newest checkpoint that reads back whole; newer ones that do not (truncated,
missing a shard, a damaged index) are moved to `checkpoints/corrupt/` with a warning. When
checkpoints exist but none is readable, a `NoReadableCheckpointError` says so.

Every process of a multi-worker run must take part in a save (variables may be reduced across
workers), but only the chief writes into `model_dir`; the other workers write to a private
temporary folder and delete it right away, as the TensorFlow multi-worker guide recommends.
Restores read the chief's folder on every worker (`model_dir` must be on a shared file system).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import tensorflow as tf

from deepnets.training.errors import NoReadableCheckpointError, OutputWriteError, RunFolderError
from deepnets.training.run_folder.checkpoint_files import (
    checkpoint_prefix,
    checkpoint_prefixes,
    checkpoint_step,
    corrupt_folder,
    last_intact_checkpoint,
    newest_readable,
    remove_checkpoint,
    remove_temporary_folders,
    write_state,
)
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.runtime.faults import fault_point
from deepnets.training.runtime.strategy import is_chief, task_identity

__all__ = ["CheckpointKeeper", "checkpoint_step", "last_intact_checkpoint"]


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
        self.directory = RunFolder(model_dir).checkpoints
        self.max_to_keep = max_to_keep
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
            # Created now so that the files carry it: `restore()` by other programs then
            # matches every object (it checks the save counter too).
            self.checkpoint.save_counter  # noqa: B018
        self._chief = is_chief(strategy)
        if self._chief:
            self._write_dir = self.directory
        else:
            _, task_id = task_identity(strategy)
            self._write_dir = tempfile.mkdtemp(prefix=f"deepnets_worker{task_id}_ckpt_")
        self._latest: str | None = None

    @property
    def latest(self) -> str | None:
        """The newest checkpoint this run restored or wrote (the chief's), or None."""
        if self._chief:
            return self._latest
        prefixes = checkpoint_prefixes(self.directory)
        return prefixes[0] if prefixes else None

    def restore_latest(self) -> tuple[str | None, int]:
        """Restores the newest readable checkpoint, if there is one.

        The optimizer must already be built, so that its slot variables exist and are restored.
        On the chief, unreadable newer checkpoints are moved to `checkpoints/corrupt/`.

        Returns:
            (the restored path, its step), or (None, 0) when the folder holds no checkpoint.

        Raises:
            NoReadableCheckpointError: checkpoints exist but none can be read.
        """
        if self._chief:
            remove_temporary_folders(self.directory)
        path, broken = newest_readable(self.directory, move_aside=self._chief)
        if path is None:
            if broken:
                raise NoReadableCheckpointError(
                    f"none of the {len(broken)} checkpoint(s) in {self.directory} can be read "
                    f"(see the warnings above; they are now in {corrupt_folder(self.directory)})."
                    " Move them away to start this run from scratch, or use another --model_dir."
                )
            return None, 0
        try:
            self.checkpoint.read(path).assert_existing_objects_matched()
        except AssertionError as err:
            raise RunFolderError(
                f"checkpoint {path} does not fit this run's model or optimizer "
                f"({str(err).strip().splitlines()[0][:200]}): the folder holds a run of another "
                "configuration. Use another --model_dir, or the configuration of that run."
            ) from None
        self._latest = path
        if self._chief and broken:
            write_state(
                self.directory, sorted(checkpoint_prefixes(self.directory), key=checkpoint_step)
            )
        return path, int(self.step.numpy())

    def save(self, step: int) -> str | None:
        """Writes a checkpoint of the current state numbered `step`.

        Returns:
            The path written by the chief (the chief's latest path on other workers).

        Raises:
            OutputWriteError: the checkpoint could not be written (its partial files are removed).
        """
        self.step.assign(step)
        prefix = checkpoint_prefix(self._write_dir, step)
        try:
            fault_point("checkpoint.write", prefix)
            self.checkpoint.write(prefix)
            fault_point("checkpoint.written", prefix)
            if self._chief:
                kept = sorted(checkpoint_prefixes(self.directory), key=checkpoint_step)
                write_state(self.directory, kept[-self.max_to_keep :])
                fault_point("checkpoint.recorded", prefix)
                for old in kept[: -self.max_to_keep]:
                    remove_checkpoint(old)
        except (OSError, tf.errors.OpError) as err:
            remove_checkpoint(prefix)
            reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[0]
            raise OutputWriteError(prefix, reason, last_intact_checkpoint(self.directory)) from err
        if not self._chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
            os.makedirs(self._write_dir, exist_ok=True)
            return self._latest
        self._latest = prefix
        return prefix

    def close(self) -> None:
        """Removes a non-chief worker's temporary folder."""
        if not self._chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
