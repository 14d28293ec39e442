"""Damaged checkpoints are survived: moved aside by the run, skipped by readers."""

import glob
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import LoopSettings, run_loop
from deepnets.training.errors import NoReadableCheckpointError
from deepnets.training.run_folder.checkpoint_files import CheckpointWarning, newest_readable

SETTINGS = dict(steps_per_epoch=8, steps_per_loop=4, checkpoint_every_steps=4)


def trained(model_dir, total=12, keep=3):
    """A toy run with checkpoints at 4, 8 and 12."""
    run_loop(
        toys.toy_runner(with_eval=False),
        LoopSettings(total_steps=total, **SETTINGS),
        model_dir=str(model_dir),
        keep_checkpoints=keep,
    )
    return os.path.join(model_dir, "checkpoints")


def truncate_data(prefix):
    (data,) = glob.glob(prefix + ".data-*")
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)


def garble_index(prefix):
    with open(prefix + ".index", "wb") as f:
        f.write(b"not an sstable" * 8)


def drop_shard(prefix):
    (data,) = glob.glob(prefix + ".data-*")
    os.remove(data)


@pytest.mark.parametrize("damage", [truncate_data, garble_index, drop_shard])
def test_resume_moves_a_damaged_newest_checkpoint_aside_and_uses_the_previous(tmp_path, damage):
    folder = trained(tmp_path)
    damage(os.path.join(folder, "ckpt-12"))
    runner = toys.toy_runner(with_eval=False)
    with pytest.warns(CheckpointWarning, match=r"ckpt-12 cannot be read .*moved to .*corrupt"):
        result = run_loop(runner, LoopSettings(total_steps=16, **SETTINGS), model_dir=str(tmp_path))
    assert result.resumed_from.endswith("ckpt-8") and result.final_step == 16
    assert int(runner.optimizer.iterations.numpy()) == 16
    assert glob.glob(os.path.join(folder, "corrupt", "ckpt-12.*"))
    # Steps 9-12 were redone and saved again; the oldest checkpoint went at the rotation.
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "ckpt-*.index")))
    assert names == ["ckpt-12.index", "ckpt-16.index", "ckpt-8.index"]
    assert tf.train.latest_checkpoint(folder).endswith("ckpt-16")  # the state file is right again


def test_a_garbled_state_file_does_not_hide_the_checkpoints(tmp_path):
    folder = trained(tmp_path)
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write("garbage {{{")
    result = run_loop(
        toys.toy_runner(with_eval=False),
        LoopSettings(total_steps=16, **SETTINGS),
        model_dir=str(tmp_path),
    )
    assert result.resumed_from.endswith("ckpt-12")


def test_no_readable_checkpoint_is_one_clear_error(tmp_path):
    folder = trained(tmp_path, keep=2)
    for step in (8, 12):
        truncate_data(os.path.join(folder, f"ckpt-{step}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointWarning)
        with pytest.raises(NoReadableCheckpointError, match=r"none of the 2 checkpoint\(s\)"):
            run_loop(
                toys.toy_runner(with_eval=False),
                LoopSettings(total_steps=16, **SETTINGS),
                model_dir=str(tmp_path),
            )


def test_readers_skip_a_damaged_checkpoint_without_moving_it(tmp_path):
    folder = trained(tmp_path)
    truncate_data(os.path.join(folder, "ckpt-12"))
    with pytest.warns(CheckpointWarning, match=r"ckpt-12 cannot be read .*skipped"):
        path, broken = newest_readable(folder, move_aside=False)
    assert path.endswith("ckpt-8") and [os.path.basename(b) for b in broken] == ["ckpt-12"]
    assert glob.glob(os.path.join(folder, "ckpt-12.*")) and not os.path.exists(
        os.path.join(folder, "corrupt")
    )
    model = toys.toy_model()
    tf.train.Checkpoint(model=model).read(path).expect_partial().assert_existing_objects_matched()
    assert all(np.isfinite(w).all() for w in model.get_weights())
