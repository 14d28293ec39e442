"""Training curves as a PNG, drawn with numpy and written with zlib (no matplotlib needed).

`write_curves_png(rows, path)` draws two panels from metrics.csv rows: loss and top-1 accuracy
against the step, train in blue and eval in orange, with a small bitmap font for axis numbers.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

TRAIN_COLOR = (31, 119, 180)
EVAL_COLOR = (255, 127, 14)
AXIS_COLOR = (60, 60, 60)
GRID_COLOR = (225, 225, 225)
TEXT_COLOR = (20, 20, 20)

# 3x5 glyphs, one string of 3 bits per row, top to bottom.
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    "+": ("000", "010", "111", "010", "000"),
    "%": ("101", "001", "010", "100", "101"),
    "(": ("010", "100", "100", "100", "010"),
    ")": ("010", "001", "001", "001", "010"),
    " ": ("000", "000", "000", "000", "000"),
    "a": ("000", "011", "101", "101", "011"),
    "c": ("000", "011", "100", "100", "011"),
    "e": ("000", "010", "111", "100", "011"),
    "i": ("010", "000", "010", "010", "010"),
    "k": ("100", "101", "110", "101", "101"),
    "l": ("110", "010", "010", "010", "111"),
    "n": ("000", "110", "101", "101", "101"),
    "o": ("000", "010", "101", "101", "010"),
    "p": ("000", "110", "101", "110", "100"),
    "r": ("000", "011", "100", "100", "100"),
    "s": ("000", "011", "110", "001", "110"),
    "t": ("010", "111", "010", "010", "011"),
    "u": ("000", "101", "101", "101", "011"),
    "v": ("000", "101", "101", "101", "010"),
    "y": ("000", "101", "111", "001", "110"),
}


def encode_png(image: np.ndarray) -> bytes:
    """Encodes an RGB image as PNG bytes.

    Args:
        image: uint8 array of shape [height, width, 3].

    Returns:
        The PNG file content.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape [height, width, 3], got {image.shape}")
    height, width, _ = image.shape
    # Each scanline starts with filter type 0 (no filter).
    raw = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


class Canvas:
    """A white RGB pixel buffer with line, rectangle and text drawing.

    Args:
        width: pixels.
        height: pixels.
    """

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255, np.uint8)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    def _put(self, xs: np.ndarray, ys: np.ndarray, color: Sequence[int]) -> None:
        keep = (xs >= 0) & (xs < self.width) & (ys >= 0) & (ys < self.height)
        self.pixels[ys[keep], xs[keep]] = color

    def line(
        self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int], width: int = 1
    ) -> None:
        """Draws a straight segment `width` pixels thick."""
        count = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, count)).astype(int)
        ys = np.rint(np.linspace(y0, y1, count)).astype(int)
        for dx in range(width):
            for dy in range(width):
                self._put(xs + dx, ys + dy, color)

    def polyline(self, points: Sequence[tuple[float, float]], color: Sequence[int]) -> None:
        """Joins consecutive points with 2-pixel lines (a single point becomes a dot)."""
        if len(points) == 1:
            x, y = points[0]
            self.rect(x - 1, y - 1, x + 1, y + 1, color, fill=True)
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            self.line(x0, y0, x1, y1, color, width=2)

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int], fill: bool = False
    ) -> None:
        """Draws a rectangle outline (or a filled rectangle)."""
        if fill:
            x0, x1 = sorted((int(x0), int(x1)))
            y0, y1 = sorted((int(y0), int(y1)))
            self.pixels[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = color
            return
        for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1))):
            self.line(*a, *b, color)
        self.line(x0, y1, x0, y0, color)

    def text(
        self, x: int, y: int, text: str, color: Sequence[int] = TEXT_COLOR, scale: int = 2
    ) -> None:
        """Writes `text` with its top-left corner at (x, y); unknown characters are blanks."""
        for i, char in enumerate(text.lower()):
            glyph = _GLYPHS.get(char, _GLYPHS[" "])
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        left = x + (4 * i + col) * scale
                        top = y + row * scale
                        self.rect(left, top, left + scale - 1, top + scale - 1, color, fill=True)

    @staticmethod
    def text_width(text: str, scale: int = 2) -> int:
        """Width in pixels of `text` as `text()` draws it."""
        return max(0, 4 * len(text) - 1) * scale


def _format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.1e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:.3g}"


def _panel(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    title: str,
    series: Sequence[tuple[Sequence[tuple[float, float]], tuple[int, int, int]]],
    x_range: tuple[float, float],
) -> None:
    left, top, right, bottom = box
    values = [y for points, _ in series for _, y in points if math.isfinite(y)]
    y_low, y_high = (min(values), max(values)) if values else (0.0, 1.0)
    if y_high - y_low < 1e-12:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    x_low, x_high = x_range
    x_span = max(x_high - x_low, 1e-12)

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        px = left + (x - x_low) / x_span * (right - left)
        py = bottom - (y - y_low) / (y_high - y_low) * (bottom - top)
        return px, py

    for i in range(5):
        y_value = y_low + (y_high - y_low) * i / 4
        _, py = to_pixel(x_low, y_value)
        canvas.line(left, py, right, py, GRID_COLOR)
        label = _format_tick(y_value)
        canvas.text(left - 6 - Canvas.text_width(label), int(py) - 5, label)
    for x_value in (x_low, (x_low + x_high) / 2, x_high):
        px, _ = to_pixel(x_value, y_low)
        label = _format_tick(round(x_value))
        canvas.text(int(px) - Canvas.text_width(label) // 2, bottom + 8, label)
    canvas.rect(left, top, right, bottom, AXIS_COLOR)
    canvas.text(left, top - 20, title)
    for points, color in series:
        finite = [to_pixel(x, y) for x, y in points if math.isfinite(y)]
        if finite:
            canvas.polyline(finite, color)


def curves_image(rows: Iterable[Mapping[str, str]], width: int = 960, height: int = 400):
    """Draws the loss and top-1 panels from metrics.csv rows.

    Args:
        rows: dicts with "step", "split" ("train"/"eval"), "loss" and "top1".
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        A uint8 [height, width, 3] array.
    """
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    steps = []
    for row in rows:
        step = float(row["step"])
        steps.append(step)
        for name, scale in (("loss", 1.0), ("top1", 100.0)):
            try:
                value = float(row[name]) * scale
            except (KeyError, TypeError, ValueError):
                continue
            series.setdefault((row["split"], name), []).append((step, value))
    x_range = (0.0, max(steps) if steps else 1.0)
    canvas = Canvas(width, height)
    half = width // 2
    for index, (name, title) in enumerate((("loss", "loss"), ("top1", "top-1 accuracy (%)"))):
        box = (half * index + 80, 40, half * (index + 1) - 20, height - 60)
        lines = [
            (series.get(("train", name), []), TRAIN_COLOR),
            (series.get(("eval", name), []), EVAL_COLOR),
        ]
        _panel(canvas, box, title, lines, x_range)
    legend_y = height - 24
    for offset, (label, color) in enumerate((("train", TRAIN_COLOR), ("eval", EVAL_COLOR))):
        x = 80 + offset * 120
        canvas.rect(x, legend_y + 2, x + 20, legend_y + 7, color, fill=True)
        canvas.text(x + 28, legend_y, label)
    canvas.text(width - 80 - Canvas.text_width("step"), legend_y, "step")
    return canvas.pixels


def write_curves_png(rows: Iterable[Mapping[str, str]], path: str) -> str:
    """Draws the training curves and writes them as a PNG file.

    Args:
        rows: metrics.csv rows (see `curves_image`).
        path: where to write the PNG.

    Returns:
        `path`.
    """
    data = encode_png(curves_image(rows))
    with open(path, "wb") as f:
        f.write(data)
    return path
