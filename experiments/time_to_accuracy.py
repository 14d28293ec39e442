"""Held-out top-1 against wall-clock minutes, for training recipes on an image folder.

    python -m experiments.cifar10_folders --tarball=../shared/data/cifar10-train-jpeg.tar.gz \
        --output_dir=/tmp/cifar10
    python -m experiments.time_to_accuracy --folder=/tmp/cifar10 --output_dir=/tmp/tta \
        --recipes=fast=trainers/flagfiles/cifar10_fast_cpu.cfg,tutorial --target_top1=93

Each recipe is a deepnets flagfile (trained with `deepnets.training.train`, the folder's
`test/` part evaluated as often as the flagfile says) or the tutorial's own recipe
(keras.applications' model with no weights, inputs / 255, Adam 1e-3, batch 32, Keras `fit`, no
augmentation): `tutorial_resnet50` (also called `tutorial`) or `tutorial_vgg16`. The tutorial
is evaluated on the same images after every epoch, and its training stops at the first batch
that ends past `--tutorial_minutes` (then it is evaluated once more). The clock runs from the
call that starts a run (reading the dataset, building the model and tracing included) to each
evaluation's end (evaluations included). Writes `time_to_accuracy.png` (top-1 against
minutes), `results.json`, `machines.json` (the machine each recipe ran on: CPU, CPUs, oneDNN,
GPUs) and prints a table. Results already in `--output_dir/results.json` are kept (a recipe run
again replaces its own), also those another invocation writes meanwhile (the files are merged
under a lock), so recipes measured one at a time, or side by side (each pinned to its own CPUs,
e.g. with `taskset`), end up on one picture; the picture names the machine, or each recipe's
where they differ. `--recipes=` with no recipe redraws the picture and table from the results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "time-to-accuracy"
quiet_tensorflow_logs(PROGRAM)
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

flags.DEFINE_string("folder", None, "An image folder with train/ and test/ class folders.")
flags.DEFINE_string("output_dir", None, "Where the runs, the picture and results.json go.")
flags.DEFINE_list(
    "recipes", ["tutorial"], "NAME=FLAGFILE items, or tutorial_resnet50 (tutorial), tutorial_vgg16."
)
flags.DEFINE_float("tutorial_minutes", 20.0, "How long the tutorial's recipe trains.")
flags.DEFINE_float(
    "target_top1", None, "Draw a target line at this held-out top-1 (percent); none by default."
)
FLAGS = flags.FLAGS


class Clock:
    """Records (minutes since start, held-out top-1) at every evaluation of a deepnets run."""

    def __init__(self) -> None:
        from deepnets.training import Action

        clock = self

        class Timer(Action):
            def on_eval(self, step: int, metrics: dict) -> None:
                minutes = (time.perf_counter() - clock.started) / 60
                clock.points.append((minutes, metrics["top1"], step))

        self.started = time.perf_counter()
        self.points: list[tuple[float, float, int]] = []
        self.action = Timer()


def run_recipe(flagfile: str, model_dir: str) -> list[tuple[float, float, int]]:
    """Trains a deepnets flagfile recipe on the folder; returns its clock points."""
    from absl import flags as absl_flags

    from deepnets.training import train
    from trainers.flag_config import config_from_flags, define_train_flags

    values = absl_flags.FlagValues()
    define_train_flags(values)
    values(
        [
            "recipe",
            f"--flagfile={flagfile}",
            f"--dataset={FLAGS.folder}",
            f"--model_dir={model_dir}",
        ]
    )
    clock = Clock()
    clock.started = time.perf_counter()
    train(config_from_flags(values), extra_actions=[clock.action])
    return clock.points


TUTORIAL_MODELS = {
    "tutorial": "ResNet50",
    "tutorial_resnet50": "ResNet50",
    "tutorial_vgg16": "VGG16",
}


def run_tutorial(
    application: str, minutes: float, num_classes: int
) -> list[tuple[float, float, int]]:
    """The tutorial's recipe: keras.applications `application` (its ImageNet layout, no
    weights), / 255, Adam 1e-3, batch 32, `fit` one epoch at a time, evaluated after each epoch;
    training stops at the first batch that ends past `minutes`, and is then evaluated."""
    import tensorflow as tf

    from experiments.tutorial import TUTORIAL_BATCH, tutorial_data, tutorial_model

    started = time.perf_counter()  # like a deepnets run: reading the dataset counts
    source, train_data, test_data = tutorial_data(FLAGS.folder)
    model = tutorial_model(application, num_classes)
    steps = max(1, source.facts.train_examples // TUTORIAL_BATCH)
    trained = []  # batches trained, counted by the callback (an epoch may stop early)

    class Budget(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            trained.append(batch)
            if (time.perf_counter() - started) / 60 >= minutes:
                self.model.stop_training = True

    points, epoch = [], 0
    while not points or (points[-1][0] < minutes and not model.stop_training):
        model.fit(
            train_data,
            steps_per_epoch=steps,
            epochs=epoch + 1,
            initial_epoch=epoch,
            verbose=0,
            callbacks=[Budget()],
        )
        epoch += 1
        _, top1 = model.evaluate(test_data, verbose=0)
        points.append(((time.perf_counter() - started) / 60, float(top1), len(trained)))
    return points


@contextlib.contextmanager
def locked(output_dir: str):
    """Holds `output_dir`'s lock: invocations running side by side merge their results."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_json(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_json(path: str, value: dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".tmp", path)


def draw(
    results: dict[str, list],
    path: str,
    title: str,
    chance: float,
    machines: dict[str, str],
    target: float | None = None,
) -> str:
    """Top-1 against minutes, one line per recipe, each starting at `chance` at minute 0.

    `machines` maps recipes to the machine they ran on: one machine goes under the x axis,
    several into the legend. `target` (percent) draws a dotted line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    from deepnets.training.run_folder.atomic import atomic_write_png

    figure = Figure(figsize=(8, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    where = {name: machines.get(name, "machine not recorded") for name in results}
    shared = set(where.values())
    for name, points in results.items():
        minutes = [0.0] + [m for m, _, _ in points]
        top1 = [chance] + [t for _, t, _ in points]
        label = name if len(shared) == 1 else f"{name} ({where[name]})"
        ax.plot(minutes, [100 * t for t in top1], marker="o", markersize=3, label=label)
    if target is not None:
        ax.axhline(target, color="gray", linestyle=":", label=f"target {target:g}%")
    ax.axvline(20, color="gray", linestyle="--", linewidth=0.8)
    on = f"\non {shared.pop()}" if len(shared) == 1 else ""  # a machine line is long
    ax.set_xlabel(f"wall-clock minutes (evaluations included){on}")
    ax.set_ylabel("held-out top-1")
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_title(title, fontweight="bold")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return atomic_write_png(figure, path)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.folder or not FLAGS.output_dir:
        fail(PROGRAM, "--folder and --output_dir: give both")
    recipes = []
    for item in FLAGS.recipes:
        name, _, flagfile = item.partition("=")
        if not (name in TUTORIAL_MODELS and not flagfile) and not (
            flagfile and os.path.exists(flagfile)
        ):
            fail(
                PROGRAM,
                f"--recipes: {item!r} is neither one of {', '.join(TUTORIAL_MODELS)} nor "
                "NAME=FLAGFILE with an existing flagfile",
            )
        recipes.append((name, flagfile))
    from deepnets.data import DatasetUnavailableError, describe_dataset

    try:
        facts = describe_dataset(FLAGS.folder)
    except DatasetUnavailableError as error:
        fail(PROGRAM, f"--folder: {error}")
    from deepnets.training import describe_machine

    machine = describe_machine()
    print(f"Machine: {machine}", flush=True)
    results_path = os.path.join(FLAGS.output_dir, "results.json")
    machines_path = os.path.join(FLAGS.output_dir, "machines.json")
    with locked(FLAGS.output_dir):
        kept = read_json(results_path)
    if kept:
        print(f"Kept the results of {', '.join(kept)} from {results_path}")
    for name, flagfile in recipes:
        if flagfile:
            points = run_recipe(flagfile, os.path.join(FLAGS.output_dir, name))
        else:
            points = run_tutorial(TUTORIAL_MODELS[name], FLAGS.tutorial_minutes, facts.num_classes)
        with locked(FLAGS.output_dir):  # another invocation may have written meanwhile
            results, machines = read_json(results_path), read_json(machines_path)
            results[name], machines[name] = points, machine
            write_json(results_path, results)
            write_json(machines_path, machines)
    with locked(FLAGS.output_dir):
        results, machines = read_json(results_path), read_json(machines_path)
    if not results:
        fail(PROGRAM, f"--recipes: none given, and no results in {results_path} to draw")
    title = (
        f"{os.path.basename(os.path.normpath(FLAGS.folder))}: {facts.num_classes} classes, "
        f"{facts.eval_examples:,} held-out images"
    )
    draw(
        results,
        os.path.join(FLAGS.output_dir, "time_to_accuracy.png"),
        title,
        1 / facts.num_classes,
        machines,
        FLAGS.target_top1,
    )
    width = max(len("recipe"), *map(len, results))
    header = f"{'recipe':<{width}} {'minutes':>8} {'steps':>7} {'top-1':>7}"
    print(f"{header}   best within 20 min   machine")
    for name, points in results.items():
        minutes, top1, steps = points[-1]
        within = max((t for m, t, _ in points if m <= 20.0), default=float("nan"))
        where = machines.get(name, "not recorded")
        print(
            f"{name:<{width}} {minutes:>8.1f} {steps:>7} {100 * top1:>6.2f}%   "
            f"{100 * within:>17.2f}%   {where}"
        )


def run() -> None:
    """Entry point (python -m experiments.time_to_accuracy)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
