"""`RunFolder`: a training run's folder, the one object that knows where each of its files goes.

It gives the path of every file and folder of the layout table
(`deepnets.training.run_folder.layout`), writes files atomically
(`deepnets.training.run_folder.atomic`), takes the writer's lock
(`deepnets.training.run_folder.lock`) and reads and writes the run record
(`deepnets.training.run_folder.run_record`). The reports, the run assembly and the binaries ask
it for paths; the loop never sees a path of the folder it is not handed.

A run record that cannot be read when a run resumes (a cut or garbled `run.json`) is kept
aside as `run.json.corrupt-<UTC time>` with a warning, as unreadable checkpoints are moved to
`checkpoints/corrupt/`, and the run writes a new one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

from deepnets.training.errors import OutputWriteError, RunFolderWarning
from deepnets.training.run_folder import atomic
from deepnets.training.run_folder.checkpoint_files import (
    checkpoint_prefixes,
    last_intact_checkpoint,
)
from deepnets.training.run_folder.layout import CHECKPOINT_NAMES, NAMES
from deepnets.training.run_folder.lock import RunLock
from deepnets.training.run_folder.run_record import RunRecord


class RunFolder:
    """A run folder at `path` (it need not exist yet): paths, atomic writes, lock, record.

    Args:
        path: the folder, e.g. a run's `model_dir` (or an `evaluation/` report folder, which
            holds report files of the same names).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"RunFolder({self.path!r})"

    def _path(self, key: str) -> str:
        return os.path.join(self.path, NAMES[key])

    @property
    def record(self) -> str:
        """`run.json`: the run record."""
        return self._path("record")

    @property
    def lock_file(self) -> str:
        """`run.lock`: the writer's lock."""
        return self._path("lock_file")

    @property
    def budget(self) -> str:
        """`budget.json`: a time-budgeted run's measurements and plan."""
        return self._path("budget")

    @property
    def checkpoints(self) -> str:
        """`checkpoints/`: the checkpoints folder."""
        return self._path("checkpoints")

    @property
    def stopping(self) -> str:
        """`stopping.json`: the evaluations keep_best and early stopping follow, and a stop."""
        return self._path("stopping")

    @property
    def best_checkpoint(self) -> str:
        """`checkpoints/best/`: the best evaluated checkpoint (with keep_best)."""
        return os.path.join(self.checkpoints, CHECKPOINT_NAMES["best"])

    @property
    def metrics_csv(self) -> str:
        """`metrics.csv`: a row per loop and per evaluation."""
        return self._path("metrics_csv")

    @property
    def curves_png(self) -> str:
        """`curves.png`: the training curves."""
        return self._path("curves_png")

    @property
    def tensorboard(self) -> str:
        """`tensorboard/`: the event files."""
        return self._path("tensorboard")

    @property
    def per_class_csv(self) -> str:
        """`per_class.csv`: an evaluation class by class."""
        return self._path("per_class_csv")

    @property
    def confusion_csv(self) -> str:
        """`confusion_matrix.csv`: an evaluation's confusion counts."""
        return self._path("confusion_csv")

    @property
    def confusion_png(self) -> str:
        """`confusion_matrix.png`: the confusion matrix, drawn."""
        return self._path("confusion_png")

    @property
    def gradient_norms_csv(self) -> str:
        """`gradient_norms.csv`: gradient norms by step and layer."""
        return self._path("gradient_norms_csv")

    @property
    def gradient_norms_png(self) -> str:
        """`gradient_norms.png`: gradient norm against depth."""
        return self._path("gradient_norms_png")

    @property
    def final_keras(self) -> str:
        """`final.keras`: the trained model."""
        return self._path("final_keras")

    @property
    def saved_model(self) -> str:
        """`saved_model/`: the trained model, served."""
        return self._path("saved_model")

    def evaluation_reports(self, name: str) -> str:
        """`evaluation/<name>/`: the reports of one evaluation (e.g. `ckpt-1200`)."""
        return os.path.join(self._path("evaluation"), name)

    def damaged_record(self, when: datetime.datetime) -> str:
        """`run.json.corrupt-<time>`: where a damaged record found at `when` is kept."""
        stamp = when.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        return os.path.join(self.path, NAMES["damaged_record"].replace("<time>", stamp))

    # Writes: each one atomic, so a kill leaves the old file or the new one.

    def write_text(self, path: str, text: str) -> str:
        """Writes `text` to `path` (one of this folder's paths) atomically; returns `path`."""
        return atomic.atomic_write_text(path, text)

    def write_json(self, path: str, values: Any) -> str:
        """Writes `values` as indented JSON to `path` atomically; returns `path`."""
        return self.write_text(path, json.dumps(values, indent=2) + "\n")

    def write_png(self, figure: Any, path: str, dpi: float | None = None) -> str:
        """Writes a matplotlib `figure` to `path` as a PNG atomically; returns `path`."""
        return atomic.atomic_write_png(figure, path, dpi)

    # The record.

    def read_record(self) -> RunRecord:
        """The run record (see `RunRecord.read` for what it raises)."""
        return RunRecord.read(self.path)

    def write_record(self, record: RunRecord) -> str:
        """Writes the run record atomically; returns its path."""
        return record.write(self.path)

    def keep_aside_damaged_record(self) -> str | None:
        """Renames a `run.json` that cannot be read to `run.json.corrupt-<UTC time>`, with a
        `RunFolderWarning` naming the file and why; returns the new name (None when the record
        reads, or there is none)."""
        if not os.path.exists(self.record):
            return None
        try:
            self.read_record()
        except ValueError as err:
            aside = self.damaged_record(datetime.datetime.now(datetime.UTC))
            os.replace(self.record, aside)
            warnings.warn(
                f"{err}; kept it as {aside}, and this run writes a new record.",
                RunFolderWarning,
                stacklevel=2,
            )
            return aside
        return None

    # Checkpoints.

    def has_checkpoints(self) -> bool:
        """Whether `checkpoints/` holds any checkpoint file (readable or not)."""
        return bool(checkpoint_prefixes(self.checkpoints))

    def newest_intact_checkpoint(self) -> str | None:
        """The newest checkpoint, if it reads back whole (else None)."""
        return last_intact_checkpoint(self.checkpoints)

    # The writer's hold.

    def lock(self) -> RunLock:
        """The folder's lock (`with folder.lock(): ...`)."""
        return RunLock(self.path)

    @contextlib.contextmanager
    def held(self) -> Iterator[RunFolder]:
        """Holds the folder for writing: its lock, leftovers of killed writers cleaned up, a
        damaged record kept aside, and an `OSError` of any write turned into an
        `OutputWriteError` that names the file and the newest intact checkpoint.

        Raises:
            RunLockedError: another process holds the folder.
            OutputWriteError: a write inside the block failed.
        """
        with self.lock():
            try:
                atomic.recover_leftovers(self.path)
                if os.path.isdir(self.checkpoints):  # the best checkpoint's folder swap
                    atomic.recover_leftovers(self.checkpoints)
                self.keep_aside_damaged_record()
                yield self
            except OSError as err:
                reason = err.strerror or str(err)
                checkpoint = self.newest_intact_checkpoint()
                raise OutputWriteError(err.filename or self.path, reason, checkpoint) from err
