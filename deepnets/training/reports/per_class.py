"""Per-class results of an evaluation: accuracy per class and the confusion matrix, as files.

`write_per_class_reports(folder, confusion, class_names)` writes, each file atomically:

- per_class.csv: one row per class with its examples, top-1 hits, accuracy and the class it is
  most often mistaken for;
- confusion_matrix.csv: counts, a row per true class and a column per predicted class;
- confusion_matrix.png: the matrix with each row scaled to its class (so a rare class reads like
  a common one), drawn with matplotlib's Agg canvas (no pyplot, like `plotting`; matplotlib is
  imported only when drawing, so importing this module is cheap).

`confusion` is what `Evaluator.confusion_matrix()` returns: int counts [C, C], rows true classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from deepnets.training.reports.reporting import csv_text
from deepnets.training.run_folder.folder import RunFolder

if TYPE_CHECKING:  # matplotlib is imported when drawing, not with the training library
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PER_CLASS_FIELDS = (
    "class",
    "name",
    "examples",
    "correct",
    "accuracy",
    "confused_with",
    "confused_count",
)
COUNTS_UP_TO = 20  # counts are written in the cells of matrices this small
NAMES_UP_TO = 50  # class names label the axes up to this many classes, indices beyond
DPI = 100
CMAP = "Blues"


def _checked(confusion: np.ndarray, class_names: Sequence[str] | None) -> tuple[np.ndarray, list]:
    matrix = np.asarray(confusion)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"confusion must be a square [C, C] matrix, got shape {matrix.shape}")
    if (matrix < 0).any():
        raise ValueError("confusion holds negative counts")
    count = matrix.shape[0]
    names = [str(i) for i in range(count)] if class_names is None else list(class_names)
    if len(names) != count:
        raise ValueError(f"got {len(names)} class names for a {count}x{count} confusion matrix")
    return np.rint(matrix).astype(np.int64), [str(name) for name in names]


def _short(name: str, most: int = 24) -> str:
    # Names in the picture are cut to keep the matrix its size; the CSV files keep them whole.
    return name if len(name) <= most else name[: most - 1] + "\u2026"


def _top1(matrix: np.ndarray) -> float:
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else float("nan")


def per_class_rows(
    confusion: np.ndarray, class_names: Sequence[str] | None = None
) -> list[dict[str, object]]:
    """The rows of per_class.csv.

    Args:
        confusion: counts [C, C], row = true class, column = predicted class.
        class_names: C names by label (None: "0", "1", ...).

    Returns:
        One dict per class with the keys of `PER_CLASS_FIELDS`: "accuracy" is a fraction (None
        for a class without examples), "confused_with" the name of the class most often
        predicted instead (None when every example was right) and "confused_count" how often.
    """
    matrix, names = _checked(confusion, class_names)
    rows = []
    for index, name in enumerate(names):
        examples, correct = int(matrix[index].sum()), int(matrix[index, index])
        wrong = matrix[index].copy()
        wrong[index] = 0
        confused = int(wrong.argmax())
        rows.append(
            {
                "class": index,
                "name": name,
                "examples": examples,
                "correct": correct,
                "accuracy": correct / examples if examples else None,
                "confused_with": names[confused] if wrong[confused] else None,
                "confused_count": int(wrong[confused]),
            }
        )
    return rows


def per_class_summary(
    confusion: np.ndarray, class_names: Sequence[str] | None = None, worst: int = 3
) -> str:
    """One line naming the least accurate classes, for a binary's output.

    Args:
        confusion: counts [C, C], row = true class, column = predicted class.
        class_names: C names by label (None: "0", "1", ...).
        worst: how many classes to name.

    Returns:
        E.g. "per-class top-1 61.0%..99.5%; worst: ring 61.0% (22 as disk), star 70.5% (15 as
        cross), plus 80.0% (8 as star)".
    """
    rows = [row for row in per_class_rows(confusion, class_names) if row["examples"]]
    if not rows:
        return "per-class top-1: no examples"
    rows.sort(key=lambda row: (row["accuracy"], row["class"]))
    low, high = rows[0]["accuracy"], rows[-1]["accuracy"]
    parts = []
    for row in rows[:worst]:
        mistake = (
            f" ({row['confused_count']} as {row['confused_with']})" if row["confused_count"] else ""
        )
        parts.append(f"{row['name']} {100 * row['accuracy']:.1f}%{mistake}")
    return f"per-class top-1 {100 * low:.1f}%..{100 * high:.1f}%; worst: " + ", ".join(parts)


def _number(value: object) -> object:
    return f"{value:.7g}" if isinstance(value, float) else value


def _name_axes(ax: Axes, labels: list[str], matrix: np.ndarray, font: float, rotate: bool) -> None:
    # Names on both axes, and each class's accuracy beside its row, so that it need not be
    # worked out from the counts.
    count = len(labels)
    if rotate:
        ax.set_xticks(range(count), labels, rotation=45, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(range(count), labels)
    ax.set_yticks(range(count), labels)
    ax.tick_params(labelsize=font, length=0)
    right = ax.secondary_yaxis("right")
    hits = zip(np.diag(matrix), matrix.sum(axis=1), strict=True)
    right.set_yticks(range(count), [f"{correct / n:.1%}" if n else "-" for correct, n in hits])
    right.tick_params(labelsize=font, length=0)
    right.set_ylabel("accuracy of the class", fontsize=11)


def _write_counts(
    ax: Axes, matrix: np.ndarray, dark: np.ndarray, font: float, cell_points: float
) -> None:
    # Non-zero counts in their cells, in one size that fits the widest, white on dark cells.
    widest = max(len(f"{value:,}") for value in matrix.ravel())
    size = min(font, cell_points / (0.62 * widest + 1))
    for (row, column), value in np.ndenumerate(matrix):
        if value:
            color = "white" if dark[row, column] else "black"
            ax.text(column, row, f"{value:,}", ha="center", va="center", fontsize=size, color=color)


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str] | None = None) -> Figure:
    """Draws the confusion matrix, each row scaled to its class's examples.

    Colours are the fraction of the true class predicted as each class, on a square-root scale
    so that a confusion of a few percent shows; counts are written in the cells up to
    `COUNTS_UP_TO` classes; class names (cut to 24 characters) label both axes and each class's
    accuracy stands to the right of its row up to `NAMES_UP_TO` classes.

    Args:
        confusion: counts [C, C], row = true class, column = predicted class.
        class_names: C names by label (None: "0", "1", ...).

    Returns:
        A figure on an Agg canvas, sized to the number of classes and the longest name.
    """
    from matplotlib import colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    matrix, names = _checked(confusion, class_names)
    count = len(names)
    examples = matrix.sum(axis=1)
    fractions = matrix / np.maximum(examples, 1)[:, None]
    named = count <= NAMES_UP_TO
    labels = [_short(name) for name in names]
    font = 10.0 if count <= COUNTS_UP_TO else 8.0
    cell = 0.55 if count <= COUNTS_UP_TO else 0.25 if named else 9.0 / count  # inches
    side = max(cell * count, 4.0)
    label = max(map(len, labels)) * font / 130 if named else 0.4  # inches of tick labels
    size = (max(side + label + 2.6, 8.0), side + 0.75 * label + 1.3)
    size = tuple(round(inches * DPI) / DPI for inches in size)  # whole pixels
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    norm = colors.PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)
    image = ax.imshow(fractions, cmap=CMAP, norm=norm, interpolation="nearest", aspect="equal")
    bar = fig.colorbar(image, ax=ax, shrink=0.8 if count > 8 else 1.0, pad=0.02)
    bar.set_label("share of the true class's examples")
    bar.set_ticks([0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
    bar.formatter = PercentFormatter(xmax=1.0, decimals=0)
    bar.update_ticks()

    if named:
        _name_axes(ax, labels, matrix, font, rotate=label > 0.9 * side / count)
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    if count <= COUNTS_UP_TO:
        _write_counts(ax, matrix, norm(fractions) > 0.6, font, cell_points=side / count * 72)
    ax.set_xlabel("predicted class", fontsize=11)
    ax.set_ylabel("true class", fontsize=11)
    fig.suptitle(f"Confusion matrix: top-1 {100 * _top1(matrix):.1f}%", fontweight="bold")
    ax.set_title(
        f"{int(np.trace(matrix)):,} of {int(matrix.sum()):,} examples right, {count} classes; "
        "colours: each row as shares of its class",
        fontsize=9,
        color="0.3",
    )
    return fig


def write_per_class_reports(
    folder: str, confusion: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, str]:
    """Writes per_class.csv, confusion_matrix.csv and confusion_matrix.png into `folder`.

    Each file is written to a temporary name and renamed into place, so a reader (or a kill)
    never sees half a file. The folder is created if needed.

    Args:
        folder: where to write (a run folder, or an evaluation's own folder).
        confusion: counts [C, C], row = true class, column = predicted class (e.g.
            `Evaluator.confusion_matrix()`).
        class_names: C names by label (None: "0", "1", ...).

    Returns:
        {"per_class_csv", "confusion_csv", "confusion_png"}: the paths written.

    Raises:
        ValueError: `confusion` is not a square matrix of counts, or the number of names
            differs from its size.
    """
    matrix, names = _checked(confusion, class_names)
    rows = per_class_rows(matrix, names)
    reports = RunFolder(folder)
    os.makedirs(folder, exist_ok=True)
    table = [PER_CLASS_FIELDS] + [[_number(row[key]) for key in PER_CLASS_FIELDS] for row in rows]
    reports.write_text(reports.per_class_csv, csv_text(table))
    counts = [["true_class", *names]]
    counts += [[name, *map(int, row)] for name, row in zip(names, matrix, strict=True)]
    reports.write_text(reports.confusion_csv, csv_text(counts))
    reports.write_png(confusion_figure(matrix, names), reports.confusion_png, dpi=DPI)
    return {
        "per_class_csv": reports.per_class_csv,
        "confusion_csv": reports.confusion_csv,
        "confusion_png": reports.confusion_png,
    }
