"""The run folder's side of `keep_best` and early stopping: `stopping.json` and `checkpoints/best/`.

`stopping.json` holds the evaluations of the followed metric by step, the best of them, the
evaluations waited since and an early stop (see `deepnets.training.loop.stopping`); it is
rewritten atomically after every evaluation, before that step is checkpointed.

`checkpoints/best/` holds one checkpoint, `ckpt-<step>`, the best evaluated state. A new best is
first written as an ordinary checkpoint, then its files are hard-linked (copied where the file
system has no links) into a new folder that replaces `best/` by an atomic folder swap: a kill
leaves the old best or the new one, and the rotation of the newest checkpoints never touches
it. A run resumed after a kill between the two finds the best checkpoint among the newest ones
and links it then.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any

from deepnets.training.errors import RunFolderWarning
from deepnets.training.run_folder.atomic import atomic_directory
from deepnets.training.run_folder.checkpoint_files import (
    checkpoint_files,
    checkpoint_prefix,
    checkpoint_prefixes,
    unreadable_reason,
)
from deepnets.training.run_folder.folder import RunFolder


def best_checkpoint(model_dir: str) -> str | None:
    """The best evaluated checkpoint of a run kept with `keep_best` (a prefix), or None."""
    prefixes = checkpoint_prefixes(RunFolder(model_dir).best_checkpoint)
    return prefixes[0] if prefixes else None


class BestCheckpointStore:
    """Keeps `Stopping`'s state and the best checkpoint in a run folder (the chief writes).

    Args:
        model_dir: the run folder.
        chief: whether this process writes into it.
    """

    def __init__(self, model_dir: str, chief: bool = True) -> None:
        self.folder = RunFolder(model_dir)
        self.chief = chief

    def load(self) -> dict[str, Any] | None:
        """The stored state, or None (none yet, or unreadable: a warning says so)."""
        path = self.folder.stopping
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                return json.load(f)
        except ValueError as err:
            warnings.warn(
                f"{path} cannot be read ({err}); the best value and the evaluations waited "
                "start again from this run's evaluations.",
                RunFolderWarning,
                stacklevel=2,
            )
            return None

    def save(self, state: dict[str, Any]) -> None:
        """Writes the state atomically (on the chief)."""
        if self.chief:
            self.folder.write_json(self.folder.stopping, state)

    def keep_best(self, step: int, checkpoint: str | None) -> str | None:
        """Makes `checkpoint` (of `step`) the best one; returns its path in `best/`."""
        target = self.folder.best_checkpoint
        if self.chief and checkpoint is not None:
            with atomic_directory(target) as partial:
                os.makedirs(partial)
                for path in checkpoint_files(checkpoint):
                    _link_or_copy(path, os.path.join(partial, os.path.basename(path)))
        return checkpoint_prefix(target, step)

    def resumed(self, best_step: int | None) -> str | None:
        """Makes `best/` hold the checkpoint of `best_step` after a resume (linking it from the
        newest checkpoints when a kill came between the two); returns its path, or None."""
        if best_step is None:
            return best_checkpoint(self.folder.path)
        wanted = checkpoint_prefix(self.folder.best_checkpoint, best_step)
        if os.path.exists(wanted + ".index"):
            return wanted
        newest = checkpoint_prefix(self.folder.checkpoints, best_step)
        if unreadable_reason(newest) is None:
            return self.keep_best(best_step, newest)
        kept = best_checkpoint(self.folder.path)
        warnings.warn(
            f"the best checkpoint (step {best_step}) is neither in {self.folder.best_checkpoint} "
            f"nor among the newest checkpoints; keeping {kept} as the best until a better one.",
            RunFolderWarning,
            stacklevel=2,
        )
        return kept


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)
