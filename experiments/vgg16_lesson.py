"""Why the tutorial's VGG16 does or does not learn: its initialization and its optimizer, one
change at a time, on the tutorial's own data pipeline.

    python -m experiments.vgg16_lesson --folder=data/cifar100 --output_dir=runs/vgg16_lesson

keras.applications' VGG16 (13 convolutions and two 4,096-unit layers, no BatchNorm) for 32x32
images, inputs / 255, batch 32 (`--batch_size`), no augmentation, trained for `--steps` steps
(the same batches in the same order for every variant) as:

- `tutorial`: as the tutorial does: Keras' own initialization (Glorot uniform), Adam 1e-3;
- `he_adam`: He-normal initialization of every hidden layer (deepnets' default), Adam 1e-3;
- `glorot_adam_1e-4`: Keras' initialization, Adam at a tenth of the rate;
- `he_sgd`: He-normal, SGD with Nesterov momentum 0.9 at 0.02 (cifar100_vgg16_20min.cfg's
  optimizer and rate, without its schedule).

It measures, on one fixed batch of held-out images: the standard deviation of every block's
output and of the logits at initialization; the training loss every 25 steps (ln 100 = 4.61 is
the loss of a uniform guess); after training, the share of ReLU units that never fire on that
batch (in block5_conv3, fc1 and fc2) and the held-out top-1. Writes `vgg16_lesson.png` (loss
against step; activation spread at initialization against depth), `results.json`, and prints a
table.
"""

from __future__ import annotations

import json
import math
import os

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "vgg16-lesson"
quiet_tensorflow_logs(PROGRAM)
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

flags.DEFINE_string("folder", None, "An image folder with train/ and test/ class folders.")
flags.DEFINE_string("output_dir", None, "Where results.json and the picture go.")
flags.DEFINE_integer("steps", 400, "Training steps of every variant.")
flags.DEFINE_integer("batch_size", 32, "Training batch (the tutorial's: 32).")
flags.DEFINE_list("variants", ["tutorial", "he_adam", "glorot_adam_1e-4", "he_sgd"], "Variants.")
FLAGS = flags.FLAGS

VARIANTS = {  # name: (He-normal initialization, optimizer, rate)
    "tutorial": (False, "adam", 1e-3),
    "he_adam": (True, "adam", 1e-3),
    "glorot_adam_1e-4": (False, "adam", 1e-4),
    "he_sgd": (True, "sgd", 0.02),
}
PROBED = [f"block{i}_pool" for i in range(1, 6)] + ["fc1", "fc2", "predictions"]
DEAD_CHECKED = ("block5_conv3", "fc1", "fc2")
LOSS_WINDOW = 25


def build(variant: str, num_classes: int):
    """The tutorial's VGG16, re-initialized and compiled as `variant` says."""
    import tensorflow as tf

    from experiments.tutorial import tutorial_model

    he, optimizer, rate = VARIANTS[variant]
    if optimizer == "adam":
        chosen = tf.keras.optimizers.Adam(rate)
    else:
        chosen = tf.keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    tf.keras.utils.set_random_seed(0)
    model = tutorial_model("VGG16", num_classes, optimizer=chosen)
    if he:  # every hidden layer; the classifier keeps its Glorot weights
        initializer = tf.keras.initializers.HeNormal(seed=0)
        for layer in model.layers:
            if isinstance(layer, tf.keras.layers.Conv2D | tf.keras.layers.Dense):
                if layer.name != "predictions":
                    layer.kernel.assign(initializer(layer.kernel.shape))
    return model


def probe(model, images) -> dict[str, float]:
    """The standard deviation of each probed layer's output on `images` (the logits for
    `predictions`, whose softmax would hide them)."""
    import keras
    import numpy as np

    outputs = [model.get_layer(n).output for n in PROBED[:-1]]
    outputs.append(model.get_layer("predictions").input)  # fc2's output: the logits' input
    values = keras.Model(model.inputs, outputs)(images, training=False)
    spread = {n: float(np.std(v)) for n, v in zip(PROBED[:-1], values[:-1], strict=True)}
    head = model.get_layer("predictions")
    logits = values[-1] @ head.kernel.numpy() + head.bias.numpy()
    spread["logits"] = float(np.std(logits))
    return spread


def dead_units(model, images) -> dict[str, float]:
    """The share of ReLU units (channels for convolutions) that are zero on every image."""
    import keras
    import numpy as np

    values = keras.Model(model.inputs, [model.get_layer(n).output for n in DEAD_CHECKED])(
        images, training=False
    )
    shares = {}
    for name, value in zip(DEAD_CHECKED, values, strict=True):
        fired = np.asarray(value).reshape(-1, value.shape[-1]).max(axis=0) > 0
        shares[name] = float(1 - fired.mean())
    return shares


def run_variant(variant: str, source, train_data, test_data, images) -> dict:
    """Trains one variant for `--steps` steps and measures it."""
    model = build(variant, source.facts.num_classes)
    at_init = probe(model, images)
    windows = max(1, FLAGS.steps // LOSS_WINDOW)
    history = model.fit(
        train_data,  # infinite; one iterator for every window, as one long epoch would
        steps_per_epoch=LOSS_WINDOW,
        epochs=windows,
        verbose=0,
    )
    _, top1 = model.evaluate(test_data, verbose=0)
    losses = [float(x) for x in history.history["loss"]]
    return {
        "spread_at_init": at_init,
        "loss_every_25_steps": losses,
        "dead_after_training": dead_units(model, images),
        "held_out_top1": float(top1),
        "steps": windows * LOSS_WINDOW,
        "batch_size": FLAGS.batch_size,
    }


def draw(results: dict, path: str, num_classes: int) -> str:
    """Loss against step, and the activation spread at initialization against depth."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from deepnets.training.run_folder.atomic import atomic_write_png

    figure = Figure(figsize=(13, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss_ax, spread_ax = figure.subplots(1, 2)
    for name, result in results.items():
        losses = result["loss_every_25_steps"]
        steps = [LOSS_WINDOW * (i + 1) for i in range(len(losses))]
        loss_ax.plot(steps, losses, marker="o", markersize=3, label=name)
    loss_ax.axhline(math.log(num_classes), color="gray", linestyle=":", label="uniform guess")
    loss_ax.set_title("Training loss (mean of each 25 steps)", fontweight="bold")
    loss_ax.set_xlabel(f"step (batch {FLAGS.batch_size})")
    loss_ax.set_ylabel("cross-entropy")
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend()
    names = PROBED[:-1] + ["logits"]
    for name, result in results.items():
        if name in ("tutorial", "he_adam"):  # one line per initialization
            label = "Glorot uniform (Keras)" if name == "tutorial" else "He normal (deepnets)"
            spread_ax.plot(
                names, [result["spread_at_init"][n] for n in names], marker="o", label=label
            )
    spread_ax.set_yscale("log")
    spread_ax.set_title("Spread of the activations at initialization", fontweight="bold")
    spread_ax.set_ylabel("standard deviation (images / 255 in)")
    spread_ax.tick_params(axis="x", labelrotation=45)
    spread_ax.grid(True, alpha=0.3)
    spread_ax.legend()
    return atomic_write_png(figure, path)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.folder or not FLAGS.output_dir:
        fail(PROGRAM, "--folder and --output_dir: give both")
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        fail(PROGRAM, f"--variants: {unknown} unknown; choose from {', '.join(VARIANTS)}")
    if FLAGS.steps < LOSS_WINDOW:
        fail(PROGRAM, f"--steps={FLAGS.steps}: give at least {LOSS_WINDOW}")
    if FLAGS.batch_size < 1:
        fail(PROGRAM, f"--batch_size={FLAGS.batch_size}: give a positive number")
    from deepnets.data import DatasetUnavailableError
    from experiments.tutorial import tutorial_data

    try:
        source, train_data, test_data = tutorial_data(FLAGS.folder, FLAGS.batch_size)
    except DatasetUnavailableError as error:
        fail(PROGRAM, f"--folder: {error}")
    images = next(iter(test_data))[0][:128]
    results = {}
    for variant in FLAGS.variants:
        results[variant] = run_variant(variant, source, train_data, test_data, images)
        print(f"{variant}: done", flush=True)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    draw(results, os.path.join(FLAGS.output_dir, "vgg16_lesson.png"), source.facts.num_classes)
    print(
        f"{'variant':<18} {'logit std at init':>17} {'first loss':>10} {'last loss':>9} "
        f"{'dead fc2':>8} {'dead conv5_3':>12} {'top-1':>6}"
    )
    for name, r in results.items():
        losses, dead = r["loss_every_25_steps"], r["dead_after_training"]
        print(
            f"{name:<18} {r['spread_at_init']['logits']:>17.3g} {losses[0]:>10.3f} "
            f"{losses[-1]:>9.3f} {100 * dead['fc2']:>7.1f}% {100 * dead['block5_conv3']:>11.1f}% "
            f"{100 * r['held_out_top1']:>5.1f}%"
        )


def run() -> None:
    """Entry point (python -m experiments.vgg16_lesson)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
