"""The benchmark's one table: rows of figures as fixed-width text, followed by notes.

Columns are separated by at least two spaces and no cell contains two spaces in a row, so
`re.split(r"\\s{2,}", line)` splits any line of the table back into its cells. A measured cell
reads "median [min-max]"; a missing figure reads "n/a".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

NA = "n/a"
GAP = "  "

Row = dict[str, Any]


def _number(value: float) -> str:
    """About four significant figures, without exponents for the magnitudes seen here."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _measured(key: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        if row.get(key) is None:
            return NA
        low, high = row[f"{key}_min"], row[f"{key}_max"]
        return f"{_number(row[key])} [{_number(low)}-{_number(high)}]"

    return cell


def _plain(key: str, fmt: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        value = row.get(key)
        return NA if value is None else format(value, fmt)

    return cell


# (header, key in the row dict, how to render it); headers hold no double spaces.
COLUMNS: tuple[tuple[str, str, Callable[[Row], str]], ...] = (
    ("model", "model", lambda row: str(row["model"])),
    ("batch", "batch_size", _plain("batch_size", "d")),
    ("fwd GFLOP/img", "forward_gflops", _plain("forward_gflops", ".4f")),
    ("(a) loop img/s", "loop_img_s", _measured("loop_img_s")),
    ("(b) keras-app fit img/s", "keras_app_fit_img_s", _measured("keras_app_fit_img_s")),
    ("(c) fit img/s", "fit_img_s", _measured("fit_img_s")),
    ("a/b", "loop_vs_keras_app_fit", _plain("loop_vs_keras_app_fit", ".2f")),
    ("a/c", "loop_vs_fit", _plain("loop_vs_fit", ".2f")),
    ("train GFLOP/s", "train_gflop_s", _plain("train_gflop_s", ".1f")),
    ("% conv peak", "conv_peak_percent", _plain("conv_peak_percent", ".1f")),
    ("% matmul peak", "matmul_peak_percent", _plain("matmul_peak_percent", ".1f")),
    ("eval img/s", "eval_img_s", _measured("eval_img_s")),
    ("pipeline/a", "pipeline_vs_loop", _plain("pipeline_vs_loop", ".1f")),
)

HEADERS: tuple[str, ...] = tuple(header for header, _, _ in COLUMNS)


def format_rows(rows: Sequence[Row]) -> list[str]:
    """The header line and one line per row, in fixed-width, left-aligned columns.

    Args:
        rows: dicts with the keys of `COLUMNS` (measured figures also with `_min`/`_max`);
            None renders as "n/a".

    Returns:
        The lines, without trailing spaces.
    """
    return aligned([list(HEADERS)] + [[render(row) for _, _, render in COLUMNS] for row in rows])


def aligned(cells: Sequence[Sequence[str]]) -> list[str]:
    """Lines of cells (the header first) in fixed-width, left-aligned columns, `GAP` apart.

    Returns:
        The lines, without trailing spaces.
    """
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return [
        GAP.join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]


def framed(lines: Sequence[str], notes: Sequence[str]) -> str:
    """A table's lines between two rules, then the notes; one string ending in a newline."""
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule, *notes]) + "\n"


def format_report(rows: Sequence[Row], notes: Sequence[str]) -> str:
    """The whole printout: the table, a rule, then the notes.

    Args:
        rows: as for `format_rows`.
        notes: lines of explanation printed under the table.

    Returns:
        One string ending in a newline.
    """
    return framed(format_rows(rows), notes)
