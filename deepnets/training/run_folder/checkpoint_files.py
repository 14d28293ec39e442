"""The checkpoint files of a run folder: finding them, checking them, moving bad ones aside.

A checkpoint `ckpt-<step>` is an `.index` file and one or more `.data-*` shards. The folder's
`checkpoint` state file lists them, but it may be stale or damaged, so the checkpoints are found
from the files themselves too. A checkpoint is readable when every tensor it holds reads back
(TensorFlow checks each tensor's CRC32C): a truncated shard, a missing shard or a damaged index
all fail that test.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import warnings

import tensorflow as tf

from deepnets.training.errors import RunFolderWarning
from deepnets.training.run_folder.atomic import atomic_write_text
from deepnets.training.run_folder.layout import CHECKPOINT_NAMES

_PREFIX = CHECKPOINT_NAMES["checkpoint"].replace("<step>", "{step}")  # "ckpt-{step}"
_NAME = re.compile("^" + _PREFIX.format(step=r"(\d+)") + r"(?:\.index|\.data-\d+-of-\d+)$")


class CheckpointWarning(RunFolderWarning):
    """A checkpoint was skipped or moved aside because it cannot be read."""


def checkpoint_step(path: str) -> int:
    """The step number of a `.../ckpt-<step>` checkpoint path."""
    return int(os.path.basename(path).rsplit("-", 1)[-1])


def checkpoint_prefix(folder: str, step: int) -> str:
    """The prefix of the checkpoint of `step` in `folder` (`folder/ckpt-<step>`)."""
    return os.path.join(folder, _PREFIX.format(step=step))


def checkpoint_prefixes(folder: str) -> list[str]:
    """Every `ckpt-<step>` prefix that has a file in `folder`, newest step first."""
    steps = set()
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        match = _NAME.match(name)
        if match:
            steps.add(int(match.group(1)))
    return [checkpoint_prefix(folder, step) for step in sorted(steps, reverse=True)]


def unreadable_reason(prefix: str) -> str | None:
    """Why the checkpoint at `prefix` cannot be read, or None when all of it reads back."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError, OSError) as err:
        lines = str(err).strip().splitlines()
        return f"{type(err).__name__}: {lines[0][:200] if lines else 'no message'}"
    return None


def last_intact_checkpoint(folder: str) -> str | None:
    """The newest checkpoint of `folder`, if it reads back whole (else None)."""
    prefixes = checkpoint_prefixes(folder)
    if prefixes and unreadable_reason(prefixes[0]) is None:
        return prefixes[0]
    return None


def newest_readable(folder: str, *, move_aside: bool) -> tuple[str | None, list[str]]:
    """The newest readable checkpoint of `folder`, skipping (and maybe moving) broken ones.

    Args:
        folder: the checkpoints folder.
        move_aside: move the files of unreadable checkpoints newer than the one returned into
            `folder/corrupt/` (the run's writer does this; readers only skip them).

    Returns:
        (the newest readable prefix or None, the prefixes found unreadable), each unreadable one
        announced by a `CheckpointWarning` naming it and why.
    """
    broken = []
    for prefix in checkpoint_prefixes(folder):
        reason = unreadable_reason(prefix)
        if reason is None:
            return prefix, broken
        broken.append(prefix)
        where = move_files_aside(prefix) if move_aside else None
        action = f"moved to {where}" if where else "skipped"
        warnings.warn(
            f"checkpoint {prefix} cannot be read ({reason}); {action}.", CheckpointWarning, 2
        )
    return None, broken


def corrupt_folder(folder: str) -> str:
    """`folder/corrupt`: where the unreadable checkpoints of `folder` are moved."""
    return os.path.join(folder, CHECKPOINT_NAMES["corrupt"])


def move_files_aside(prefix: str) -> str:
    """Moves every file of the checkpoint `prefix` into `<its folder>/corrupt/`; returns that."""
    target = corrupt_folder(os.path.dirname(prefix))
    os.makedirs(target, exist_ok=True)
    for path in checkpoint_files(prefix):
        shutil.move(path, os.path.join(target, os.path.basename(path)))
    return target


def checkpoint_files(prefix: str) -> list[str]:
    """The `.index` and `.data-*` files of the checkpoint `prefix` that exist."""
    pattern = glob.escape(prefix)
    return sorted(glob.glob(pattern + ".index") + glob.glob(pattern + ".data-*"))


def remove_checkpoint(prefix: str) -> None:
    """Deletes the files of the checkpoint `prefix` (and a temporary folder TF left of it)."""
    for path in checkpoint_files(prefix):
        os.remove(path)
    for leftover in glob.glob(glob.escape(prefix) + "_temp*"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_state(folder: str, prefixes: list[str]) -> None:
    """Writes the `checkpoint` state file (TensorFlow's CheckpointState text format, read by
    `tf.train.latest_checkpoint`) listing `prefixes` oldest first, atomically, with paths
    relative to the folder so that the run folder can move."""
    if prefixes:
        names = [os.path.basename(p) for p in prefixes]
        lines = [f'model_checkpoint_path: "{names[-1]}"']
        lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
        atomic_write_text(os.path.join(folder, CHECKPOINT_NAMES["state"]), "\n".join(lines) + "\n")


def remove_temporary_folders(folder: str) -> None:
    """Deletes the `ckpt-<step>_temp*` folders TensorFlow leaves when killed while writing."""
    for leftover in glob.glob(os.path.join(glob.escape(folder), "ckpt-*_temp*")):
        shutil.rmtree(leftover, ignore_errors=True)
