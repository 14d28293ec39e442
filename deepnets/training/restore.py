"""Rebuild a trained model from a run folder: config.json + the newest (or a given) checkpoint."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from deepnets.training.checkpointing import CHECKPOINT_SUBDIR
from deepnets.training.config import TrainConfig

keras = tf.keras


def load_run_config(model_dir: str) -> TrainConfig:
    """The TrainConfig a run wrote to `model_dir/config.json`.

    Raises:
        FileNotFoundError: `model_dir` holds no config.json (not a deepnets run folder).
    """
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: {model_dir!r} is not the model_dir of a deepnets training run."
        )
    with open(path) as f:
        return TrainConfig.from_dict(json.load(f))


def restore_model(
    model_dir: str, checkpoint: str | None = None
) -> tuple[keras.Model, TrainConfig, str]:
    """Build the run's model and load the weights of a checkpoint into it.

    Args:
        model_dir: a training run folder (holds config.json and checkpoints/).
        checkpoint: a checkpoint path (".../ckpt-1200"); None for the newest one.

    Returns:
        (model returning logits, the run's TrainConfig, the checkpoint path read).

    Raises:
        FileNotFoundError: no config.json, or no checkpoint in the folder.
    """
    from deepnets import data
    from deepnets.training.api import build_model_from_config, model_input_shape

    cfg = load_run_config(model_dir)
    checkpoint = checkpoint or tf.train.latest_checkpoint(
        os.path.join(model_dir, CHECKPOINT_SUBDIR)
    )
    if checkpoint is None:
        raise FileNotFoundError(f"No checkpoint in {os.path.join(model_dir, CHECKPOINT_SUBDIR)}.")
    cfg.download = False  # the run's data is on disk already, or the error says so
    _, info = data.load_split(cfg.dataset, "train", data_dir=cfg.data_dir, download=False)
    model = build_model_from_config(cfg, info.num_classes)
    model.build((None, *model_input_shape(cfg)))
    status = tf.train.Checkpoint(model=model).read(checkpoint)
    status.expect_partial()  # the optimizer and counters are not needed here
    status.assert_existing_objects_matched()
    return model, cfg, checkpoint
