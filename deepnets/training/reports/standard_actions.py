"""The standard actions, run on the chief only: what a user sees of a run (the progress line,
metrics.csv, TensorBoard scalars and the curves picture)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.loop.epochs import epochs_begun
from deepnets.training.loop.results import TrainResult
from deepnets.training.reports.reporting import (
    MetricsCsv,
    TensorBoardLogger,
    format_eval_line,
    format_train_line,
    read_metrics_csv,
)
from deepnets.training.run_folder.folder import RunFolder


class ProgressPrinter(Action):
    """Prints the resume line, a progress line per due loop, eval lines and the stop line."""

    def __init__(self) -> None:
        self._total_steps = 0

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        self._total_steps = total_steps
        if resumed_from:
            print(f"Resumed from {resumed_from} at step {step}/{total_steps}.", flush=True)

    def on_train_loop(self, report: LoopReport) -> None:
        if not report.log:
            return
        total_epochs = epochs_begun(report.total_steps, report.steps_per_epoch)
        line = format_train_line(
            step=report.step,
            total_steps=report.total_steps,
            epoch=min((report.step - report.num_steps) // report.steps_per_epoch + 1, total_epochs),
            total_epochs=total_epochs,
            metrics=report.metrics,
            learning_rate=report.learning_rate,
            images_per_sec=report.images_per_sec,
            eta_seconds=report.eta_seconds,
        )
        print(line, flush=True)

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        print(format_eval_line(step, metrics), flush=True)

    def on_end(self, result: TrainResult) -> None:
        if result.stopped_early:
            print(
                f"Stopped early at step {result.final_step}/{result.total_steps}: "
                f"{result.stopped_early}. The run is complete.",
                flush=True,
            )
        if result.best_checkpoint_path:
            print(
                f"Best: {result.best_value:.4f} at step {result.best_step} "
                f"({result.best_checkpoint_path}).",
                flush=True,
            )

    def on_stop(self, step: int, path: str | None) -> None:
        print(
            f"SIGTERM received: saved checkpoint {path} at step {step}/{self._total_steps}; "
            "stopping cleanly. "
            "Run again to resume.",
            flush=True,
        )


class MetricsCsvWriter(Action):
    """Appends a row per loop and per evaluation to metrics.csv (rows past a resume are dropped).

    Args:
        path: the CSV file.
        steps_per_epoch: turns steps into the epoch column.
    """

    def __init__(self, path: str, steps_per_epoch: int) -> None:
        self.path = path
        self.steps_per_epoch = steps_per_epoch
        self._csv: MetricsCsv | None = None

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        self._csv = MetricsCsv(self.path, resume_step=step)

    def on_train_loop(self, report: LoopReport) -> None:
        self._csv.append(dict(report.row(), step=report.step, epoch=report.epoch, split="train"))

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        epoch = step / self.steps_per_epoch
        self._csv.append(dict(metrics, step=step, epoch=epoch, split="eval"))


class TensorBoardWriter(Action):
    """Writes train and eval scalars to TensorBoard event files."""

    def __init__(self, logdir: str) -> None:
        self._logger = TensorBoardLogger(logdir)

    def on_train_loop(self, report: LoopReport) -> None:
        self._logger.scalars("train", report.row(), report.step)
        if report.gradient_norms:
            self._logger.scalars("gradients", report.gradient_norms, report.step)

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self._logger.scalars("eval", metrics, step)

    def close(self) -> None:
        self._logger.close()


class CurvesWriter(Action):
    """Redraws curves.png from metrics.csv after every evaluation and at the end."""

    def __init__(self, csv_path: str, png_path: str) -> None:
        self.csv_path = csv_path
        self.png_path = png_path
        self._drawn_rows: list | None = None

    def draw(self) -> str | None:
        """Draws the picture; returns its path (None when there is nothing to draw yet)."""
        from deepnets.training.reports.plotting import (
            write_curves_png,  # matplotlib: only when drawing
        )

        rows = read_metrics_csv(self.csv_path)
        if not rows:
            return None
        # The end of a run follows its last evaluation: the picture of the same rows is on disk
        # already, and drawing it again would take a second or more.
        if rows != self._drawn_rows or not os.path.exists(self.png_path):
            write_curves_png(rows, self.png_path)
            self._drawn_rows = rows
        return self.png_path

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self.draw()

    def on_end(self, result: TrainResult) -> None:
        result.curves_png = self.draw()


def standard_actions(
    folder: RunFolder, steps_per_epoch: int, progress: bool = True
) -> list[Action]:
    """The chief's actions: progress lines (if `progress`), metrics.csv, TensorBoard and
    curves.png in `folder`."""
    return [
        *([ProgressPrinter()] if progress else []),
        MetricsCsvWriter(folder.metrics_csv, steps_per_epoch),
        TensorBoardWriter(folder.tensorboard),
        CurvesWriter(folder.metrics_csv, folder.curves_png),
    ]
