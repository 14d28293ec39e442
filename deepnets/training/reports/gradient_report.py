"""Gradient norms of a run: `gradient_norms.csv`, TensorBoard scalars and the depth picture.

`gradient_norms.csv` has one row per recorded (step, layer): the step, the epoch, the layer's
name, its depth (0 for the first layer with weights, counting top-level layers: stem, blocks,
classifier) and the norm. `gradient_norms_figure` draws norm against depth at a few moments of
training, one panel per run, so that a plain network and its ResNet twin sit side by side.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.reports.reporting import csv_text, read_step_rows
from deepnets.training.run_folder.atomic import atomic_write_png
from deepnets.training.run_folder.folder import RunFolder

if TYPE_CHECKING:  # matplotlib is imported when drawing, not with the training library
    from matplotlib.figure import Figure

FIELDS = ("step", "epoch", "layer", "depth", "norm")


def read_gradient_norms(path: str) -> list[dict[str, str]]:
    """The rows of a `gradient_norms.csv` ([] when there is none; a cut last line is dropped)."""
    return read_step_rows(path)


class GradientNormsWriter(Action):
    """Writes each loop's gradient norms to the CSV and, at the end, the depth picture (the
    TensorBoard action writes them as `gradients/<layer>` scalars).

    Args:
        folder: the run folder.
        steps_per_epoch: for the epoch column.
    """

    def __init__(self, folder: RunFolder, steps_per_epoch: int) -> None:
        self.folder = folder
        self.csv_path = folder.gradient_norms_csv
        self.png_path = folder.gradient_norms_png
        self.steps_per_epoch = steps_per_epoch

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        kept = [r for r in read_gradient_norms(self.csv_path) if int(r["step"]) <= step]
        self.folder.write_text(
            self.csv_path, csv_text([FIELDS] + [[r[k] for k in FIELDS] for r in kept])
        )

    def on_train_loop(self, report: LoopReport) -> None:
        if not report.gradient_norms:
            return
        epoch = f"{report.step / self.steps_per_epoch:.4f}"
        rows = [
            [report.step, epoch, name, depth, f"{norm:.6g}"]
            for depth, (name, norm) in enumerate(report.gradient_norms.items())
        ]
        with open(self.csv_path, "a", newline="") as f:
            f.write(csv_text(rows))  # one write: the loop's rows land whole

    def on_end(self, result: object) -> None:
        rows = read_gradient_norms(self.csv_path)
        if rows:
            title = os.path.basename(os.path.normpath(self.folder.path))
            write_gradient_norms_png([(title, rows)], self.png_path)


def _moments(steps: Sequence[int], count: int) -> list[int]:
    """Up to `count` recorded steps spread over the run: the first, the last and between."""
    unique = sorted(set(steps))
    picks = np.unique(np.round(np.linspace(0, len(unique) - 1, min(count, len(unique)))))
    return [unique[int(i)] for i in picks]


def gradient_norms_figure(
    runs: Sequence[tuple[str, Sequence[Mapping[str, str]]]], moments: int = 4
) -> Figure:
    """Gradient norm against depth, one panel per run, a line per moment of training.

    Args:
        runs: (title, rows of its gradient_norms.csv) per panel, e.g. [("plain-56", ...),
            ("resnet-56", ...)]; the panels share the norm axis.
        moments: how many recorded steps to draw per run (the first, the last, between).

    Returns:
        The figure (no pyplot state is touched).
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.2 * len(runs), 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, (title, rows) in zip(axes, runs, strict=True):
        steps = [int(r["step"]) for r in rows]
        chosen = _moments(steps, moments)
        colors = [colormaps["viridis"](x) for x in np.linspace(0.0, 0.85, len(chosen))]
        depth_names: dict[int, str] = {}
        for step, color in zip(chosen, colors, strict=True):
            at = sorted(
                (int(r["depth"]), float(r["norm"]), r) for r in rows if int(r["step"]) == step
            )
            depth_names.update({d: r["layer"] for d, _, r in at})
            epoch = float(at[0][2]["epoch"]) if at else 0.0
            ax.plot(
                [d for d, _, _ in at],
                [n for _, n, _ in at],
                marker="o",
                markersize=3,
                color=color,
                label=f"step {step:,} (epoch {epoch:.1f})",
            )
        ax.set_yscale("log")
        ax.set_title(title, fontweight="bold")
        ax.set_xlabel("depth (layer with weights, input to output)")
        ticks = sorted(depth_names)
        if len(ticks) <= 12:
            ax.set_xticks(ticks, [depth_names[t] for t in ticks], rotation=45, ha="right")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("gradient L2 norm of the layer's weights")
    return figure


def write_gradient_norms_png(
    runs: Sequence[tuple[str, Sequence[Mapping[str, str]]]], path: str, moments: int = 4
) -> str:
    """Draws `gradient_norms_figure(runs)` and writes it atomically as a PNG; returns `path`."""
    return atomic_write_png(gradient_norms_figure(runs, moments), path)
