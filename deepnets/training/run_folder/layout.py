"""The names of a run folder, in one table: every file and folder a run writes, and what it holds.

`RunFolder` (`deepnets.training.run_folder.folder`) turns these names into paths; the modules
below it (the lock, the record, the checkpoint files) take their names from here. A name may hold
a placeholder in angle brackets (`ckpt-<step>`), which stands for any text.

Not listed: the short-lived names of a write in progress (`.<name>.*.tmp*` files, `*.partial-<pid>`
and `*.previous-<pid>` folders: see `deepnets.training.run_folder.atomic`, and TensorFlow's
`ckpt-<step>_temp*` folders), which a finished or resumed run never leaves behind.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re


@dataclasses.dataclass(frozen=True)
class Entry:
    """One name of a run folder.

    Attributes:
        key: what the code calls it (`RunFolder` has a path of the same name).
        name: the file or folder name; `<...>` stands for any text.
        folder: whether it is a folder.
        holds: what it holds, for a reader of the folder.
    """

    key: str
    name: str
    folder: bool
    holds: str

    def matches(self, name: str) -> bool:
        """Whether `name` (a file or folder name, no path) is this entry's."""
        return fnmatch.fnmatchcase(name, re.sub(r"<[^>]*>", "*", self.name))


RUN_FOLDER = (
    Entry("record", "run.json", False, "the run record: config, model, dataset facts, versions"),
    Entry(
        "damaged_record",
        "run.json.corrupt-<time>",
        False,
        "a run record that could not be read when the run resumed, kept aside (UTC time)",
    ),
    Entry("lock_file", "run.lock", False, "the writer's lock: host, PID and start of the holder"),
    Entry("budget", "budget.json", False, "with a time budget: what was measured and planned"),
    Entry("checkpoints", "checkpoints", True, "the checkpoints (see CHECKPOINTS_FOLDER)"),
    Entry(
        "stopping",
        "stopping.json",
        False,
        "with keep_best or early stopping: the evaluations followed, the best, an early stop",
    ),
    Entry("metrics_csv", "metrics.csv", False, "a row per training loop and per evaluation"),
    Entry("curves_png", "curves.png", False, "loss, accuracy and learning rate against step"),
    Entry("tensorboard", "tensorboard", True, "the same scalars for TensorBoard"),
    Entry("per_class_csv", "per_class.csv", False, "the last evaluation, class by class"),
    Entry("confusion_csv", "confusion_matrix.csv", False, "the last evaluation's confusions"),
    Entry("confusion_png", "confusion_matrix.png", False, "the confusion matrix, drawn"),
    Entry("gradient_norms_csv", "gradient_norms.csv", False, "gradient norm per layer per loop"),
    Entry("gradient_norms_png", "gradient_norms.png", False, "gradient norm against depth"),
    Entry("evaluation", "evaluation", True, "deepnets-evaluate's reports, a folder per checkpoint"),
    Entry("final_keras", "final.keras", False, "the trained model (logits), at the end"),
    Entry("saved_model", "saved_model", True, "the trained model served, at the end"),
    Entry(
        "old_record",
        "config.json",
        False,
        "the record of a deepnets 0.1 run (never written now; its folders cannot be read)",
    ),
)

CHECKPOINTS_FOLDER = (
    Entry("state", "checkpoint", False, "TensorFlow's list of the checkpoints kept"),
    Entry("checkpoint", "ckpt-<step>", False, "a checkpoint: `.index` and `.data-*` files"),
    Entry("corrupt", "corrupt", True, "checkpoints that could not be read, moved aside"),
    Entry("best", "best", True, "with keep_best: the best evaluated checkpoint, `ckpt-<step>`"),
)

NAMES = {entry.key: entry.name for entry in RUN_FOLDER}
CHECKPOINT_NAMES = {entry.key: entry.name for entry in CHECKPOINTS_FOLDER}


def entry_for(name: str, table: tuple[Entry, ...] = RUN_FOLDER) -> Entry | None:
    """The entry of `table` that `name` (a file or folder name) is, or None."""
    return next((entry for entry in table if entry.matches(name)), None)
