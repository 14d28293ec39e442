"""curves.png: what is drawn (data, scales, labels) and how the file is written.

`python tests/training/test_plotting.py curves.png` draws `realistic_rows()`, to look at the
layout (docs/curves.png is a real run's, see docs/run-folder.md).
"""

import math
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from deepnets.training.reports.plotting import curves_figure, write_curves_png
from deepnets.training.reports.reporting import CSV_FIELDS


def realistic_rows(steps_per_epoch=312, epochs=4, steps_per_loop=10, seed=0):
    """metrics.csv rows of a plausible run: noisy loss 2.3 -> 0.1, an eval at each epoch end,
    a cosine learning rate from 0.1 after one epoch of linear warmup."""
    rng = np.random.default_rng(seed)
    total, step, rows = steps_per_epoch * epochs, 0, []

    def row(split, **values):
        values = {k: f"{v:.7g}" for k, v in values.items()}
        return {**dict.fromkeys(CSV_FIELDS, ""), **values, "split": split, "step": str(step)}

    while step < total:
        step += min(steps_per_loop, steps_per_epoch - step % steps_per_epoch)
        loss = (0.1 + 2.2 * math.exp(-step / 220)) * math.exp(rng.normal(0, 0.06))
        top1 = min(0.995, 1.05 * math.exp(-1.05 * loss) + rng.normal(0, 0.01))
        done = (step - steps_per_epoch) / (total - steps_per_epoch)
        lr = 0.1 * min(1.0, step / steps_per_epoch)
        lr = lr if done <= 0 else 0.05 * (1 + math.cos(math.pi * done))
        epoch = step / steps_per_epoch
        speed = 2500 + rng.normal(0, 50)
        rows.append(
            row(
                "train",
                epoch=epoch,
                data_loss=loss,
                top1=top1,
                learning_rate=lr,
                images_per_sec=speed,
            )
        )
        if step % steps_per_epoch == 0:
            e = step // steps_per_epoch - 1
            rows.append(
                row(
                    "eval",
                    epoch=epoch,
                    data_loss=0.39 + 0.56 * math.exp(-1.5 * e),
                    top1=0.872 - 0.19 * math.exp(-1.2 * e),
                    top5=0.994 - 0.029 * math.exp(-1.2 * e),
                    examples=10000,
                )
            )
    return rows


def _lines(ax):
    return {line.get_label().split(":")[0]: line for line in ax.lines}


def _column(rows, split, name, scale=1.0):
    return [scale * float(r[name]) for r in rows if r["split"] == split and r[name]]


def test_three_panels_with_titles_and_units():
    fig = curves_figure(realistic_rows())
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Loss", "Accuracy", "Learning rate"]
    assert [ax.get_xlabel() for ax in axes] == ["step"] * 3
    assert [ax.get_ylabel() for ax in axes] == [
        "cross-entropy (data) loss",
        "accuracy (%)",
        "learning rate",
    ]
    assert set(_lines(axes[0])) == {"train", "eval"}
    assert set(_lines(axes[1])) == {"train top-1", "eval top-1", "eval top-5"}
    assert axes[0].get_legend() is not None and axes[1].get_legend() is not None
    # One secondary "epoch" axis on top of each panel, 0..4 for a 4-epoch run.
    tops = [top for ax in axes for top in ax.child_axes]
    assert [top.get_xlabel() for top in tops] == ["epoch"] * 3
    fig.canvas.draw()
    low, high = tops[0].get_xlim()
    ticks = [t.get_text() for t in tops[0].get_xticklabels() if low <= t.get_position()[0] <= high]
    assert ticks == ["0", "1", "2", "3", "4"]
    # Whole percents ("80%", not "80.0%") and thousands separators on steps.
    percents = [t.get_text() for t in axes[1].get_yticklabels()]
    assert "80%" in percents and all("." not in p for p in percents)
    assert "1,000" in [t.get_text() for t in axes[0].get_xticklabels()]


def test_pyplot_state_is_untouched(tmp_path):
    # The figure lives on its own Agg canvas: a user's pyplot figures and backend stay as they were.
    import matplotlib
    import matplotlib.pyplot as plt

    figures, backend = plt.get_fignums(), matplotlib.get_backend()
    write_curves_png(realistic_rows(), str(tmp_path / "curves.png"))
    assert isinstance(curves_figure([]).canvas, FigureCanvasAgg)
    assert plt.get_fignums() == figures and matplotlib.get_backend() == backend


def test_lines_hold_the_rows_values():
    rows = realistic_rows()
    loss_ax, acc_ax, lr_ax = curves_figure(rows).axes
    train = _lines(loss_ax)["train"]
    np.testing.assert_allclose(train.get_ydata(), _column(rows, "train", "data_loss"))
    np.testing.assert_allclose(train.get_xdata(), _column(rows, "train", "step"))
    eval_top1 = _lines(acc_ax)["eval top-1"]
    np.testing.assert_allclose(eval_top1.get_ydata(), _column(rows, "eval", "top1", 100.0))
    np.testing.assert_allclose(eval_top1.get_xdata(), [312, 624, 936, 1248])
    assert _lines(acc_ax)["eval top-5"].get_linestyle() == "--"
    lr = _lines(lr_ax)["learning rate"]
    np.testing.assert_allclose(lr.get_ydata(), _column(rows, "train", "learning_rate"))
    assert eval_top1.get_label() == f"eval top-1: {100 * float(rows[-1]['top1']):.1f}%"


def test_loss_axis_is_log_and_unclipped_when_the_loss_spans_more_than_10x():
    rows = realistic_rows()
    loss_ax = curves_figure(rows).axes[0]
    assert loss_ax.get_yscale() == "log"
    low, high = loss_ax.get_ylim()
    losses = _column(rows, "train", "data_loss") + _column(rows, "eval", "data_loss")
    assert max(losses) > 2.0 and low < min(losses) and max(losses) < high
    # Plain tick labels ("0.2", "1", "2"), no "10^-1" or "0.0987"-like ones.
    loss_ax.figure.canvas.draw()
    labels = [t.get_text() for t in loss_ax.get_yticklabels() if t.get_text()]
    assert {"0.1", "0.2", "0.5", "1", "2"} <= set(labels)
    assert all(len(label) <= 4 for label in labels)


def test_loss_axis_is_linear_when_the_loss_spans_less_than_10x():
    rows = [
        {"step": str(s), "split": "train", "data_loss": str(3.0 - s / 100)}
        for s in range(10, 201, 10)
    ]
    loss_ax = curves_figure(rows).axes[0]
    assert loss_ax.get_yscale() == "linear"
    low, high = loss_ax.get_ylim()
    assert low < 1.0 and 2.9 < high


def test_png_is_written_atomically_at_1500x450(tmp_path):
    path = str(tmp_path / "curves.png")
    with open(path, "wb") as f:
        f.write(b"old")
    assert write_curves_png(realistic_rows(), path) == path
    assert os.listdir(tmp_path) == ["curves.png"]  # the temporary file was renamed away
    assert imread(path).shape[:2] == (450, 1500)
    assert tf.io.decode_png(tf.io.read_file(path)).shape[:2] == (450, 1500)
    assert os.path.getsize(path) < 150_000


def test_failed_draw_leaves_the_old_png_and_no_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / "curves.png")
    write_curves_png(realistic_rows(), path)
    before = open(path, "rb").read()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", fail)
    with pytest.raises(OSError, match="disk full"):
        write_curves_png(realistic_rows(), path)
    assert os.listdir(tmp_path) == ["curves.png"]
    assert open(path, "rb").read() == before


def test_the_end_of_a_run_redraws_only_when_metrics_csv_changed(tmp_path, monkeypatch):
    # The end follows the final evaluation: the same rows, so the picture on disk is kept.
    from deepnets.training.reports import plotting
    from deepnets.training.reports.reporting import MetricsCsv
    from deepnets.training.reports.standard_actions import CurvesWriter

    drawn = []
    monkeypatch.setattr(
        plotting, "write_curves_png", lambda rows, path: drawn.append(len(rows)) or path
    )
    csv, png = str(tmp_path / "metrics.csv"), tmp_path / "curves.png"
    writer, rows = CurvesWriter(csv, str(png)), MetricsCsv(csv, resume_step=0)
    assert writer.draw() is None and drawn == []  # no rows yet
    rows.append({"step": 1, "split": "train", "loss": 2.0})
    assert writer.draw() == str(png) and drawn == [1]
    png.write_bytes(b"png")  # the fake drawing wrote nothing
    assert writer.draw() == str(png) and drawn == [1]
    rows.append({"step": 1, "split": "eval", "loss": 1.5})
    writer.draw()
    png.unlink()
    writer.draw()  # the same rows, but the picture is gone
    assert drawn == [1, 2, 2]


def _train_only():
    return [r for r in realistic_rows() if r["split"] == "train"]


def _with_gaps():
    rows = realistic_rows()
    rows[0]["data_loss"], rows[1]["top1"], rows[2]["learning_rate"] = "nan", "", "inf"
    rows[3].pop("epoch")
    return rows


def _resumed():
    # A run that died at step 700 and was resumed from step 600 with rows 610..700 still in the
    # file (slightly different values the second time): the later rows win, sorted by step.
    rows = realistic_rows()
    rerun = [
        dict(r, data_loss=str(0.9 * float(r["data_loss"]))) for r in rows if int(r["step"]) > 600
    ]
    return [r for r in rows if int(r["step"]) <= 700] + rerun


EDGE_CASES = {
    "empty": lambda: [],
    "single_row": lambda: realistic_rows()[:1],
    "train_only": _train_only,
    "eval_only": lambda: [r for r in realistic_rows() if r["split"] == "eval"],
    "gaps": _with_gaps,
    "resumed": _resumed,
    "shuffled": lambda: list(np.random.default_rng(1).permutation(realistic_rows())),
    "no_epoch_column": lambda: [
        {k: v for k, v in r.items() if k != "epoch"} for r in _train_only()
    ],
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_draw_and_write(case, tmp_path):
    rows = EDGE_CASES[case]()
    path = write_curves_png(rows, str(tmp_path / "curves.png"))
    assert imread(path).shape[:2] == (450, 1500)
    fig = curves_figure(rows)
    for ax in fig.axes:
        for line in ax.lines:
            steps = line.get_xdata()
            assert np.all(np.isfinite(line.get_ydata())) and np.all(np.diff(steps) > 0)
    has_epoch = any(r.get("epoch") for r in rows)
    assert len(fig.axes) == 3
    assert sum(len(ax.child_axes) for ax in fig.axes) == (3 if has_epoch else 0)


def test_resumed_run_keeps_one_point_per_step():
    rows = _resumed()
    train = _lines(curves_figure(rows).axes[0])["train"]
    expected = {int(r["step"]): float(r["data_loss"]) for r in rows if r["split"] == "train"}
    np.testing.assert_array_equal(train.get_xdata(), sorted(expected))
    np.testing.assert_allclose(train.get_ydata(), [expected[s] for s in sorted(expected)])


def test_accuracy_ticks_are_whole_percents_on_a_narrow_range():
    # Eval top-1 68..87% and top-5 96..99%: the default PercentFormatter would say "70.0%".
    acc_ax = curves_figure(EDGE_CASES["eval_only"]()).axes[1]
    acc_ax.figure.canvas.draw()
    labels = [t.get_text() for t in acc_ax.get_yticklabels()]
    assert "80%" in labels and all("." not in label for label in labels)


def test_single_row_is_visible_as_a_marker():
    loss_ax, acc_ax, lr_ax = curves_figure(realistic_rows()[:1]).axes
    (line,) = loss_ax.lines
    assert line.get_marker() == "o"
    low, high = loss_ax.get_ylim()
    assert low < line.get_ydata()[0] < high
    # Distinct step ticks around the lone step (not "10 10 10" over a 0.01-wide range).
    assert loss_ax.get_xlim() == (0.0, 20.0)
    loss_ax.figure.canvas.draw()
    labels = [t.get_text() for t in loss_ax.get_xticklabels() if t.get_text()]
    assert len(set(labels)) == len(labels) > 2


def test_panel_without_data_says_so():
    # Eval rows only: no learning rate was logged.
    lr_ax = curves_figure(EDGE_CASES["eval_only"]()).axes[2]
    assert not lr_ax.lines and list(lr_ax.get_yticks()) == []
    assert [t.get_text() for t in lr_ax.texts] == ["no data"]


if __name__ == "__main__":
    print(write_curves_png(realistic_rows(), sys.argv[1] if len(sys.argv) > 1 else "curves.png"))
