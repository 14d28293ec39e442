"""Rebuild a trained model from a run folder: the run record + a checkpoint, no dataset needed."""

from __future__ import annotations

import os

import tensorflow as tf

from deepnets.training.checkpointing import CHECKPOINT_SUBDIR
from deepnets.training.run_record import RunRecord

keras = tf.keras


def restore_model(
    model_dir: str, checkpoint: str | None = None
) -> tuple[keras.Model, RunRecord, str]:
    """Builds the run's model from its run record and loads a checkpoint's weights into it.

    Args:
        model_dir: a training run folder (holds run.json and checkpoints/).
        checkpoint: a checkpoint path (".../ckpt-1200"); None for the newest one.

    Returns:
        (model returning logits, the run's record, the checkpoint path read).

    Raises:
        FileNotFoundError: no run.json, or no checkpoint in the folder.
    """
    record = RunRecord.read(model_dir)
    folder = os.path.join(model_dir, CHECKPOINT_SUBDIR)
    checkpoint = checkpoint or tf.train.latest_checkpoint(folder)
    if checkpoint is None:
        raise FileNotFoundError(f"No checkpoint in {folder}.")
    model = record.build_model()
    status = tf.train.Checkpoint(model=model).read(checkpoint)
    status.expect_partial()  # the optimizer and the step are not needed here
    status.assert_existing_objects_matched()
    return model, record, checkpoint
