"""Grad-CAM pictures: each image with its heat map over it and the top classes in its title.

`write_explanations(predictor, paths, output_dir)` reads image files, runs them through the
model's recorded preprocessing, and writes one PNG per image and, for several images, a grid
of them all (`grid.png`). `explanation_figure` draws such a grid from arrays. Figures are plain
`Figure`s on their own Agg canvas, as `plotting.py` draws them: pyplot is never imported.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from deepnets.checks import check_positive_int
from deepnets.data.images import read_image
from deepnets.models.grad_cam import GradCam, grad_cam
from deepnets.training.run_folder.atomic import atomic_write_png

if TYPE_CHECKING:  # matplotlib is imported when drawing, not with the training library
    from matplotlib.figure import Figure

PANEL_INCHES = (2.2, 2.75)  # width, height of one image and its title
DPI = 100
HEAT_ALPHA = 0.45  # the image shows through the heat map
HEAT_COLORMAP = "jet"  # Grad-CAM's paper and most of its users draw the map in jet
GRID_NAME = "grid.png"
CAPTION_CHARS = 27  # what fits above one image at the title's font size
BATCH_SIZE = 32  # images per Grad-CAM pass: the tape holds every activation of a batch
_BATCHED = ("heat", "probabilities", "class_indices")


def top_classes(probabilities: np.ndarray, class_names: Sequence[str], k: int) -> list[str]:
    """The `k` most probable classes of one image as "name 87%", most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [f"{class_names[i]} {100 * probabilities[i]:.0f}%" for i in order]


def explanation_figure(
    images: np.ndarray,
    result: GradCam,
    class_names: Sequence[str],
    *,
    captions: Sequence[str] | None = None,
    top_k: int = 3,
    columns: int | None = None,
) -> Figure:
    """Draws each image with its Grad-CAM heat map over it, in a grid.

    Args:
        images: [n, H, W, 3] images as the model saw them, 0..255 (uint8 or float).
        result: `grad_cam` of the same images.
        class_names: one name per model output.
        captions: a first title line per image (e.g. its file name); None: none.
        top_k: how many of the most probable classes each title lists.
        columns: images per row; None: about square, at most 8.

    Returns:
        A figure on an Agg canvas with one axes per image, titled with the caption, the top
        classes with their probabilities, and which class the map is for when it is not the
        top-1.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = len(images)
    check_positive_int("top_k", top_k)
    columns = columns or min(8, math.ceil(math.sqrt(count)))
    check_positive_int("columns", columns)
    rows = math.ceil(count / columns)
    columns = min(columns, count)
    fig = Figure(
        figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows),
        dpi=DPI,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= count:
            continue
        image = np.clip(np.asarray(images[i], np.float32) / 255.0, 0.0, 1.0)
        ax.imshow(image, interpolation="nearest")
        ax.imshow(result.heat[i], cmap=HEAT_COLORMAP, alpha=HEAT_ALPHA, vmin=0.0, vmax=1.0)
        lines = [captions[i]] if captions else []
        lines += top_classes(result.probabilities[i], class_names, top_k)
        explained = int(result.class_indices[i])
        if explained != int(np.argmax(result.probabilities[i])):
            lines.append(f"map: {class_names[explained]}")
        ax.set_title("\n".join(lines), fontsize=8, loc="left")
    return fig


def write_explanations(
    predictor: Any,
    paths: Sequence[str],
    output_dir: str,
    *,
    stage: str | None = None,
    top_k: int = 3,
    columns: int | None = None,
) -> list[str]:
    """Writes each image file with its Grad-CAM heat map over it, and a grid of them all.

    Args:
        predictor: a `deepnets.models.ImagePredictor` (a run's model with its preprocessing and
            class names, or an exported model.keras) whose classifier is a deepnets model.
        paths: image files (JPEG, PNG, BMP, GIF).
        output_dir: the folder for `<file name>.png` per image (a name that repeats gets
            "-2", "-3") and `grid.png` when there are several images.
        stage: the feature stage to explain (`deepnets.models.stage_names`); None: the last.
        top_k: how many of the most probable classes each title lists.
        columns: images per row of the grid; None: about square, at most 8.

    Returns:
        The paths written, the per-image PNGs first.

    Raises:
        ArgumentError: `stage` is not one of the model's stages (the message lists them).
        ValueError: a file is not an image.
        OSError: a file or `output_dir` cannot be read or written.
    """
    if not paths:
        raise ValueError("paths: give at least one image file")
    preprocessing = predictor.preprocessing
    views = np.stack([preprocessing.view(_read(path)).numpy() for path in paths])
    inputs = preprocessing.normalize(tf.constant(views))
    parts = [
        grad_cam(predictor.classifier, inputs[start : start + BATCH_SIZE], stage=stage)
        for start in range(0, len(paths), BATCH_SIZE)
    ]
    result = GradCam(
        *(np.concatenate([getattr(part, f) for part in parts]) for f in _BATCHED),
        stage=parts[0].stage,
    )
    captions = [_caption(path) for path in paths]
    names = predictor.class_names
    written = []
    for i, name in enumerate(_output_names(paths)):
        one = slice(i, i + 1)
        figure = explanation_figure(
            views[one], _select(result, one), names, captions=captions[one], top_k=top_k
        )
        written.append(atomic_write_png(figure, os.path.join(output_dir, name), dpi=DPI))
    if len(paths) > 1:
        grid = explanation_figure(
            views, result, names, captions=captions, top_k=top_k, columns=columns
        )
        written.append(atomic_write_png(grid, os.path.join(output_dir, GRID_NAME), dpi=DPI))
    return written


def _read(path: str) -> tf.Tensor:
    try:
        return read_image(path)
    except tf.errors.OpError as err:
        reason = (err.message or type(err).__name__).strip().splitlines()[0]
        raise ValueError(f"cannot read {path} as an image: {reason}") from err


def _select(result: GradCam, images: slice) -> GradCam:
    return dataclasses.replace(result, **{f: getattr(result, f)[images] for f in _BATCHED})


def _caption(path: str) -> str:
    # The folder names the class in an image-folder dataset (cifar10/test/cat/0001.png); a
    # long name loses its middle so that it stays above its own image.
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    caption = f"{folder}/{os.path.basename(path)}" if folder else os.path.basename(path)
    if len(caption) <= CAPTION_CHARS:
        return caption
    half = (CAPTION_CHARS - 1) // 2
    return f"{caption[:half]}…{caption[-half:]}"


def _output_names(paths: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
        names.append(f"{name}.png" if name + ".png" != GRID_NAME else f"{name}-image.png")
    return names
