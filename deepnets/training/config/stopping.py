"""The third group of a `TrainConfig`'s fields: the best checkpoint, early stopping and which
state the run exports.

A base dataclass of `TrainConfig` (after `OptimizationSettings`); the fields carry their help
text and check like all the others (see `fields.setting`).
"""

from __future__ import annotations

import dataclasses

from deepnets.training.config.fields import OPTIONAL_POSITIVE_INT, ConfigError, choice, setting
from deepnets.training.config.optimization import OptimizationSettings

# The evaluation's metrics by the names Keras' `fit` logs them under (losses are minimised,
# accuracies maximised).
EVAL_METRICS = ("val_loss", "val_top1", "val_top5")
EXPORTS = ("last", "best")


@dataclasses.dataclass
class StoppingSettings(OptimizationSettings):
    """The best checkpoint, early stopping and the exported state (see `TrainConfig`)."""

    keep_best: str | None = setting(
        None,
        "Keep the best evaluated checkpoint by this metric in checkpoints/best/ beside the "
        "newest ones (val_loss is minimised, val_top1 and val_top5 maximised); resumes and "
        "kills keep it. None: no best checkpoint.",
        choice(None, *EVAL_METRICS),
    )
    export: str = setting(
        "last",
        "Which state final.keras and the SavedModel hold at the end: last (the run's last "
        "step) or best (the keep_best checkpoint).",
        choice(*EXPORTS),
    )
    early_stopping_patience: int | None = setting(
        None,
        "End the run (cleanly: checkpoint, final evaluation, export) after this many "
        "evaluations in a row without improvement of keep_best (val_loss when keep_best is "
        "None); a resumed run remembers how long it has waited, and a rerun of a stopped run "
        "finds it complete. None: never.",
        OPTIONAL_POSITIVE_INT,
    )

    def check_stopping(self) -> None:
        """The rules between the stopping fields and the others.

        Raises:
            ConfigError: `export='best'` without `keep_best`, or early stopping or a best
                checkpoint without evaluations during the run.
        """
        if self.export == "best" and self.keep_best is None:
            raise ConfigError(
                "export", self.export, reason="export='best' needs keep_best (e.g. 'val_top1')"
            )
        if self.eval_every_steps == 0:
            for name in ("keep_best", "early_stopping_patience"):
                if getattr(self, name) is not None:
                    raise ConfigError(
                        name,
                        getattr(self, name),
                        reason="it follows the evaluations during the run, and "
                        "eval_every_steps=0 evaluates only at its end: set eval_every_steps to "
                        "None (every epoch) or a number of steps",
                    )
