"""Deep plain networks against ResNets of the same depth: He et al. 2016, Figure 6, on a CPU.

    python -m experiments.cifar10_folders --tarball=../shared/data/cifar10-train-jpeg.tar.gz \
        --output_dir=/tmp/cifar10
    python -m experiments.depth_lesson --folder=/tmp/cifar10 --output_dir=/tmp/lesson

Trains plain-20, plain-56, ResNet-20 and ResNet-56 (the paper's CIFAR-10 networks, shortcuts of
option A) with one short schedule on the same images, recording the gradient norm of every layer
as they train (`log_gradient_norms`), then draws:

- `errors.png`: training error and validation error against step, the four runs together;
- `gradient_norms.png`: gradient norm against depth at a few moments, plain-56 beside
  ResNet-56 (and plain-20 beside ResNet-20 in `gradient_norms_20.png`);
- a table of the final errors and times, printed and written to `results.json`.
"""

from __future__ import annotations

import json
import os
import time

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "depth-lesson"
quiet_tensorflow_logs(PROGRAM)
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

flags.DEFINE_string("folder", None, "An image folder with train/ and test/ (cifar10_folders).")
flags.DEFINE_string("output_dir", None, "Where the runs, pictures and results go.")
flags.DEFINE_list("models", ["plain20", "plain56", "resnet20", "resnet56"], "The networks.")
flags.DEFINE_integer("train_steps", 1500, "Steps of every run.")
flags.DEFINE_integer("global_batch_size", 128, "Batch size of every run.")
flags.DEFINE_float("learning_rate", 0.1, "Peak learning rate (SGD, momentum 0.9, cosine).")
flags.DEFINE_integer("evaluations", 6, "Evaluations of the validation images per run.")
FLAGS = flags.FLAGS


def config(model: str, model_dir: str):
    """The TrainConfig every network of the comparison shares (but its name)."""
    from deepnets.training import TrainConfig

    steps = FLAGS.train_steps
    return TrainConfig(
        model=model,
        dataset=FLAGS.folder,
        model_dir=model_dir,
        epochs=None,
        train_steps=steps,
        global_batch_size=FLAGS.global_batch_size,
        optimizer="sgd",
        learning_rate=FLAGS.learning_rate,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
        warmup_steps=steps // 20,
        steps_per_loop=max(1, steps // 50),
        eval_every_steps=max(1, steps // FLAGS.evaluations),
        checkpoint_every_steps=steps,
        log_gradient_norms=True,
        export_saved_model=False,
        seed=0,
    )


def draw_errors(runs: dict[str, str], path: str) -> str:
    """Training and validation error (100 - top-1) against step, the runs together."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    from deepnets.training import RunFolder
    from deepnets.training.reports.reporting import read_metrics_csv
    from deepnets.training.run_folder.atomic import atomic_write_png

    figure = Figure(figsize=(13, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    train_ax, eval_ax = figure.subplots(1, 2, sharey=True)
    colors = {"20": "tab:blue", "56": "tab:red", "32": "tab:green", "44": "tab:purple"}
    for name, model_dir in runs.items():
        rows = read_metrics_csv(RunFolder(model_dir).metrics_csv)
        style = "--" if name.startswith("plain") else "-"
        color = colors.get(name[-2:], "tab:gray")
        for ax, split, marker in ((train_ax, "train", None), (eval_ax, "eval", "o")):
            points = [
                (int(r["step"]), 100 * (1 - float(r["top1"]))) for r in rows if r["split"] == split
            ]
            ax.plot(
                *zip(*points, strict=True),
                style,
                color=color,
                marker=marker,
                markersize=3,
                label=name,
            )
    for ax, title in ((train_ax, "Training error"), (eval_ax, "Validation error")):
        ax.set_title(title, fontweight="bold")
        ax.set_xlabel("step")
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.grid(True, alpha=0.3)
        ax.legend()
    train_ax.set_ylabel("error (100% - top-1)")
    return atomic_write_png(figure, path)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.folder or not FLAGS.output_dir:
        fail(PROGRAM, "--folder and --output_dir: give both")
    from deepnets.training import RunFolder, train
    from deepnets.training.reports.gradient_report import (
        read_gradient_norms,
        write_gradient_norms_png,
    )

    runs, results = {}, {}
    for model in FLAGS.models:
        model_dir = os.path.join(FLAGS.output_dir, model)
        started = time.perf_counter()
        result = train(config(model, model_dir))
        runs[model] = model_dir
        results[model] = {
            "train_error": 1 - result.train_metrics.get("top1", float("nan")),
            "validation_error": 1 - result.eval_metrics["top1"],
            "minutes": (time.perf_counter() - started) / 60,
        }
    draw_errors(runs, os.path.join(FLAGS.output_dir, "errors.png"))
    for depth in ("56", "20"):
        pair = [m for m in (f"plain{depth}", f"resnet{depth}") if m in runs]
        if pair:
            name = "gradient_norms.png" if depth == "56" else f"gradient_norms_{depth}.png"
            panels = [(m, read_gradient_norms(RunFolder(runs[m]).gradient_norms_csv)) for m in pair]
            write_gradient_norms_png(panels, os.path.join(FLAGS.output_dir, name))
    with open(os.path.join(FLAGS.output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"{'model':<10} {'train error':>12} {'val error':>10} {'minutes':>8}")
    for model, r in results.items():
        print(
            f"{model:<10} {100 * r['train_error']:>11.1f}% {100 * r['validation_error']:>9.1f}% "
            f"{r['minutes']:>8.1f}"
        )


def run() -> None:
    """Entry point (python -m experiments.depth_lesson)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
