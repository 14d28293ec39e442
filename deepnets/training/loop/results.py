"""`TrainResult`: what a training run hands back."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class TrainResult:
    """What a finished (or preempted) run produced.

    Attributes:
        final_step: the step the run stopped at.
        total_steps: the step the run was asked to reach.
        train_metrics: metrics of the last train loop ({"loss", "top1", "top5", "examples"}).
        eval_metrics: metrics of the last evaluation ({} without an eval set).
        model_dir: the run folder.
        checkpoint_path: newest checkpoint.
        metrics_csv: path of metrics.csv (None where no CSV was written).
        curves_png: path of curves.png (None where no picture was drawn).
        final_model_path: path of final.keras (set by `train`, None when preempted).
        saved_model_path: path of the exported SavedModel (set by `train`, None when preempted).
        preempted: the run stopped early on SIGTERM after checkpointing.
        resumed_from: checkpoint the run started from, or None for a fresh start.
        stopped_early: why the run ended before `total_steps` (early stopping, a Keras
            callback's `model.stop_training`), or None. Such a run is complete.
        best_checkpoint_path: with `keep_best`, the best evaluated checkpoint.
        best_step, best_value: its step and metric value.
    """

    final_step: int
    total_steps: int
    train_metrics: dict[str, float]
    eval_metrics: dict[str, float]
    model_dir: str
    checkpoint_path: str | None
    metrics_csv: str | None = None
    curves_png: str | None = None
    final_model_path: str | None = None
    saved_model_path: str | None = None
    preempted: bool = False
    resumed_from: str | None = None
    stopped_early: str | None = None
    best_checkpoint_path: str | None = None
    best_step: int | None = None
    best_value: float | None = None
