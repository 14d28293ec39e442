"""Training curves from metrics.csv rows, drawn with matplotlib's Agg canvas.

`write_curves_png(rows, path)` draws three panels side by side: loss, top-1 accuracy (with eval
top-5 when present) and learning rate, all against the step, with the epoch on a top axis.
`pyplot` is never imported: the figure is a plain `Figure` on its own `FigureCanvasAgg`, so a
user's interactive backend and current figure are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
    ScalarFormatter,
)

from deepnets.training.run_folder.atomic import atomic_write_png

TRAIN_COLOR = "tab:blue"
EVAL_COLOR = "tab:orange"
FIGSIZE = (15.0, 4.5)  # inches; times DPI gives 1500x450 pixels
DPI = 100
LOG_SPAN = 10.0  # the loss axis is logarithmic when max/min loss exceeds this

Series = tuple[np.ndarray, np.ndarray]


def _number(text: object) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _series(rows: list[Mapping[str, str]], split: str, name: str, scale: float = 1.0) -> Series:
    # (steps, values) sorted by step; non-finite values are skipped and a step written twice
    # (a resumed run) keeps its last row.
    points: dict[float, float] = {}
    for row in rows:
        step, value = _number(row.get("step")), _number(row.get(name)) * scale
        if row.get("split") == split and math.isfinite(step) and math.isfinite(value):
            points[step] = value
    steps = np.array(sorted(points), dtype=float)
    return steps, np.array([points[s] for s in steps], dtype=float)


def _steps_per_epoch(rows: list[Mapping[str, str]]) -> float | None:
    ratios = [
        _number(row.get("step")) / _number(row.get("epoch"))
        for row in rows
        if _number(row.get("epoch")) > 0 and _number(row.get("step")) > 0
    ]
    if not ratios:
        return None
    ratio = float(np.median(ratios))
    return float(round(ratio)) if abs(ratio - round(ratio)) < 1e-3 * ratio else ratio


def _plot(ax: Axes, series: Series, label: str, color: str, sparse: bool, **style) -> None:
    # The legend shows the last value: "eval top-1: 87.2%".
    steps, values = series
    if len(steps):
        marker = "o" if sparse or len(steps) == 1 else None
        last = f"{values[-1]:.1f}%" if "top-" in label else f"{values[-1]:.3g}"
        style = {"color": color, "marker": marker, "markersize": 4, **style}
        ax.plot(steps, values, label=f"{label}: {last}", **style)


def _decorate(ax: Axes, title: str, ylabel: str, steps_per_epoch: float | None) -> None:
    ax.set_title(title, fontweight="bold")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    if not ax.lines:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    elif len(ax.lines) > 1:
        ax.legend(loc="best", frameon=False)
    if steps_per_epoch:
        top = ax.secondary_xaxis(
            "top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch)
        )
        top.set_xlabel("epoch")
        top.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=2))


def _loss_scale(ax: Axes, values: np.ndarray) -> None:
    if len(values) and values.min() > 0 and values.max() / values.min() > LOG_SPAN:
        ax.set_yscale("log")
        decades = math.log10(values.max() / values.min())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def curves_figure(rows: Iterable[Mapping[str, str]]) -> Figure:
    """Draws the loss, accuracy and learning-rate panels from metrics.csv rows.

    Args:
        rows: dicts of strings as `reporting.read_metrics_csv` returns them, with "step",
            "split" ("train"/"eval"), "data_loss", "top1", "top5" (fractions), "learning_rate" and
            "epoch". Missing, empty or non-finite values are skipped; rows need not be sorted.

    Returns:
        A 1500x450 pixel figure on an Agg canvas with axes [loss, accuracy, learning rate]. Line
        labels are "train", "eval" (loss), "train top-1", "eval top-1", "eval top-5" and
        "learning rate", each followed by ": <last value>".
    """
    rows = list(rows)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3, sharex=True)
    spe = _steps_per_epoch(rows)

    train_loss = _series(rows, "train", "data_loss")
    eval_loss = _series(rows, "eval", "data_loss")
    _plot(loss_ax, train_loss, "train", TRAIN_COLOR, sparse=False)
    _plot(loss_ax, eval_loss, "eval", EVAL_COLOR, sparse=True)
    _loss_scale(loss_ax, np.concatenate([train_loss[1], eval_loss[1]]))
    _decorate(loss_ax, "Loss", "cross-entropy (data) loss", spe)

    _plot(acc_ax, _series(rows, "train", "top1", 100.0), "train top-1", TRAIN_COLOR, False)
    _plot(acc_ax, _series(rows, "eval", "top1", 100.0), "eval top-1", EVAL_COLOR, True)
    top5 = _series(rows, "eval", "top5", 100.0)
    _plot(acc_ax, top5, "eval top-5", EVAL_COLOR, True, linestyle="--", alpha=0.45)
    # Whole percents on ticks 1% or more apart (default PercentFormatter shows "95.0%").
    values = np.concatenate([line.get_ydata() for line in acc_ax.lines] or [[]])
    wide = len(values) and values.max() - values.min() >= 5.0
    acc_ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=100.0, decimals=0 if wide else None))
    _decorate(acc_ax, "Accuracy", "accuracy (%)", spe)

    _plot(lr_ax, _series(rows, "train", "learning_rate"), "learning rate", "tab:green", False)
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-3, 4))
    lr_ax.yaxis.set_major_formatter(formatter)
    _decorate(lr_ax, "Learning rate", "learning rate", spe)
    steps = {s for ax in (loss_ax, acc_ax, lr_ax) for line in ax.lines for s in line.get_xdata()}
    if len(steps) == 1:  # a single step: show 0..2*step rather than a 0.01-wide range
        (step,) = steps
        loss_ax.set_xlim(*((0, 2 * step) if step > 0 else (step - 1, step + 1)))
    return fig


def write_curves_png(rows: Iterable[Mapping[str, str]], path: str) -> str:
    """Draws the training curves and writes them as a PNG file, atomically.

    The PNG is written to a temporary file next to `path` and then renamed over it, so a reader
    (or a kill mid-write) never sees half a file.

    Args:
        rows: metrics.csv rows (see `curves_figure`).
        path: where to write the PNG.

    Returns:
        `path`.
    """
    return atomic_write_png(curves_figure(rows), path, dpi=DPI)
