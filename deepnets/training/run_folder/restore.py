"""Rebuild a trained model from a run folder: the run record + a checkpoint, no dataset needed."""

from __future__ import annotations

import tensorflow as tf

from deepnets.training.errors import NoReadableCheckpointError
from deepnets.training.run_folder.best_checkpoint import best_checkpoint
from deepnets.training.run_folder.checkpoint_files import newest_readable, unreadable_reason
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.run_record import RunRecord

keras = tf.keras


def restore_model(
    model_dir: str, checkpoint: str | None = None
) -> tuple[keras.Model, RunRecord, str]:
    """Builds the run's model from its run record and loads a checkpoint's weights into it.

    It only reads the folder (a run may be training in it): an unreadable newer checkpoint is
    skipped with a warning, not moved.

    Args:
        model_dir: a training run folder (holds run.json and checkpoints/).
        checkpoint: a checkpoint path (".../ckpt-1200"); None for the one the run exports:
            its best (`checkpoints/best/`) when it ran with `export='best'`, else the newest
            readable one.

    Returns:
        (model returning logits, the run's record, the checkpoint path read).

    Raises:
        FileNotFoundError: no run.json, or no checkpoint in the folder.
        NoReadableCheckpointError: the checkpoint asked for, or every one, cannot be read.
    """
    run_folder = RunFolder(model_dir)
    record = run_folder.read_record()
    folder = run_folder.checkpoints
    if checkpoint is not None:
        reason = unreadable_reason(checkpoint)
        if reason is not None:
            raise NoReadableCheckpointError(f"checkpoint {checkpoint} cannot be read ({reason}).")
    elif getattr(record.config, "export", "last") == "best" and best_checkpoint(model_dir):
        checkpoint = best_checkpoint(model_dir)
    else:
        checkpoint, broken = newest_readable(folder, move_aside=False)
        if checkpoint is None and broken:
            raise NoReadableCheckpointError(
                f"none of the {len(broken)} checkpoint(s) in {folder} can be read."
            )
    if checkpoint is None:
        raise FileNotFoundError(f"No checkpoint in {folder}.")
    model = record.build_model()
    # A run with a weight average evaluates and exports it: read it rather than the weights.
    key = "ema_model" if getattr(record.config, "ema_decay", None) else "model"
    status = tf.train.Checkpoint(**{key: model}).read(checkpoint)
    status.expect_partial()  # the optimizer and the step are not needed here
    status.assert_existing_objects_matched()
    return model, record, checkpoint
