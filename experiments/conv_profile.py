"""Where a model's convolution time goes: each distinct convolution's three kernels, timed.

    python -m experiments.conv_profile [--model=resnet50_cifar] [--batch_size=64] [--repetitions=3]

A training step runs every convolution three times: forward, the gradient of its input, and the
gradient of its weights. This tool lists the model's convolutions (deepnets.benchmarks.flops),
groups the identical ones (input shape, kernel, strides, padding), and times the three TensorFlow
kernels of each group alone on random data, at the training batch size: GFLOP/s of each, and the
milliseconds a training step spends in the group (rate x how many times the model has it). Rows
are sorted by that time, so the top rows are where the step goes; the last line compares each
direction's total rate with the forward rate of the 3x3, 64-channel reference layer measured in
the same run, and (unless `--step_repetitions=0`) a whole training step of the model is timed, to
say what share of it the convolutions would take if they ran as fast as alone. The last line
measures the 3x3-conv peak of `deepnets-benchmark` (deepnets.benchmarks.peak) beside them and
says what share of it a training step could reach at most with these kernels: the share if
nothing but the convolutions took time (a bound where they take most of the step; small
convolutions can run faster inside it).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from absl import flags

from trainers.cli import check_flags, fail, run_binary

PROGRAM = "conv-profile"
DIRECTIONS = ("forward", "grad_input", "grad_weights")
REFERENCE = ((32, 32, 64), (3, 3, 64, 64), 1, "SAME")  # the probe layer of cpu_settings

FLAGS = flags.FLAGS


def conv_ops(
    image_shape: tuple[int, int, int],
    kernel_shape: tuple[int, int, int, int],
    strides: int,
    padding: str,
    batch_size: int,
    data_format: str = "NHWC",
) -> dict[str, Callable[[], Any]]:
    """The three kernels of one convolution on random data, as traced functions.

    Args:
        image_shape: one input's (H, W, C) (channels last) or (C, H, W) (channels first).
        kernel_shape: (kh, kw, in channels, out channels).
        strides: the stride of both spatial axes.
        padding: "SAME" or "VALID".
        batch_size: images per call.
        data_format: "NHWC" or "NCHW".

    Returns:
        {"forward", "grad_input", "grad_weights"}: functions that run the kernel once, on
        `tf.random.stateless_normal` images (seed [1, 0]) and kernel (seed [1, 1]); the
        gradients take the forward output as the output gradient.
    """
    import tensorflow as tf

    shape = (batch_size, *image_shape)
    x = tf.random.stateless_normal(shape, seed=[1, 0])  # the same data on every call
    k = tf.random.stateless_normal(kernel_shape, seed=[1, 1])
    step = [1, 1, strides, strides] if data_format == "NCHW" else [1, strides, strides, 1]
    y = tf.nn.conv2d(x, k, step, padding, data_format=data_format)
    options = {"strides": step, "padding": padding, "data_format": data_format}
    return {
        "forward": tf.function(lambda: tf.nn.conv2d(x, k, **options)),
        "grad_input": tf.function(
            lambda: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=shape, filter=k, out_backprop=y, **options
            )
        ),
        "grad_weights": tf.function(
            lambda: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=kernel_shape, out_backprop=y, **options
            )
        ),
    }


def conv_groups(model: Any, input_shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """The model's distinct convolutions: shapes, how many times it has each, FLOPs per image."""
    from deepnets.benchmarks.flops import conv_macs, layer_shapes

    groups: dict[tuple, dict[str, Any]] = {}
    for layer, in_shape, out_shape in layer_shapes(model, input_shape):
        if not hasattr(layer, "kernel") or len(layer.kernel.shape) != 4:
            continue  # Dense
        strides = getattr(layer, "strides", (1, 1))[0]
        padding = getattr(layer, "padding", "valid").upper()
        key = (tuple(in_shape[1:]), tuple(layer.kernel.shape), strides, padding)
        group = groups.setdefault(
            key, {"key": key, "count": 0, "flops": 2 * conv_macs(layer, out_shape), "layers": []}
        )
        group["count"] += 1
        group["layers"].append(layer.name)
    return list(groups.values())


def _rate(fn: Callable[[], Any], flops: float, repetitions: int, calls: int = 3) -> float:
    fn()  # trace and warm up
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        for _ in range(calls):
            out = fn()
        out.numpy()
        samples.append(calls * flops / (time.perf_counter() - started) / 1e9)
    return statistics.median(samples)


def profile(model_name: str, batch_size: int, repetitions: int) -> tuple[list[dict], dict]:
    """Times every distinct convolution of a benchmark row; returns (rows, reference rates)."""
    from deepnets.benchmarks.cases import IMAGE_SHAPE, MODEL_CASES

    model = MODEL_CASES[model_name].build_deepnets()
    rows = conv_groups(model, IMAGE_SHAPE)
    for row in rows:
        image, kernel, strides, padding = row["key"]
        row["batch_size"] = batch_size
        flops = row["flops"] * batch_size
        ops = conv_ops(image, kernel, strides, padding, batch_size)
        row["gflops"] = {d: _rate(ops[d], flops, repetitions) for d in DIRECTIONS}
        row["ms"] = {d: row["count"] * flops / row["gflops"][d] / 1e6 for d in DIRECTIONS}
    image, kernel, strides, padding = REFERENCE
    ref_flops = 2.0 * batch_size * image[0] * image[1] * kernel[0] * kernel[1] * kernel[2]
    ref_flops *= kernel[3]
    ops = conv_ops(image, kernel, strides, padding, batch_size)
    reference = {d: _rate(ops[d], ref_flops, repetitions) for d in DIRECTIONS}
    rows.sort(key=lambda r: -sum(r["ms"].values()))
    return rows, reference


def peak_gflops(repetitions: int, sizes: Any = None) -> float:
    """The 3x3-conv peak of the throughput benchmark (`deepnets.benchmarks.peak`, its default
    sizes unless `sizes` says otherwise), GFLOP/s, the median of `repetitions` timed calls."""
    from deepnets.benchmarks.peak import PeakSizes, conv_contender

    sizes = sizes or PeakSizes()
    conv = conv_contender(sizes.conv_batch, sizes.conv_size, sizes.conv_channels)
    conv(1)  # trace and warm up
    return statistics.median(conv(sizes.calls) for _ in range(repetitions)) / 1e9


def conv_flops(rows: list[dict]) -> float:
    """FLOPs of one direction (forward, or either gradient) of all the rows' convolutions."""
    return sum(r["count"] * r["flops"] * r["batch_size"] for r in rows)


def training_rate(rows: list[dict]) -> float:
    """GFLOP/s of the three directions of all the rows' convolutions, each at its time alone."""
    return 3 * conv_flops(rows) / sum(sum(r["ms"].values()) for r in rows) / 1e6


def ceiling_text(rows: list[dict], peak: float) -> str:
    """The most a training step can show of the conv peak with these kernels: 3 x the
    convolutions' FLOPs over their time alone, against `peak` (GFLOP/s)."""
    rate = training_rate(rows)
    return (
        f"ceiling: the 3x3-conv peak of deepnets-benchmark, measured here, is {peak:.1f} GFLOP/s; "
        f"a training step whose convolutions ran as fast as alone and everything else took no "
        f"time would train at {rate:.1f} GFLOP/s, {100 * rate / peak:.1f}% of it: the most its "
        f"'% conv peak' can show with these kernels, where the convolutions alone take less "
        f"than the whole step (small ones can run faster inside it than alone)."
    )


def step_ms(model_name: str, batch_size: int, repetitions: int, steps: int = 2) -> float:
    """Milliseconds of one whole training step of the row
    (`deepnets.benchmarks.runners.library_loop`: the deepnets loop on in-memory data), the median
    of `repetitions` calls of `steps` steps."""
    from deepnets.benchmarks.cases import MODEL_CASES
    from deepnets.benchmarks.runners import library_loop, random_examples

    contender, _ = library_loop(
        MODEL_CASES[model_name], random_examples(4 * batch_size), batch_size=batch_size
    )
    contender(1)  # trace and warm up
    rates = [contender(steps) for _ in range(repetitions)]
    return 1000 * batch_size / statistics.median(rates)


def format_table(rows: list[dict], reference: dict, top: int = 0) -> str:
    """The profile as text: one row per distinct convolution, then the totals."""
    total_ms = sum(sum(r["ms"].values()) for r in rows)
    head = (
        f"{'input HxWxC':<14}{'kernel':<20}{'stride':>6}{'count':>6}"
        + "".join(f"{d + ' GFLOP/s':>22}" for d in DIRECTIONS)
        + f"{'ms/step':>9}{'share':>7}  layers"
    )
    lines = [head]
    for row in rows[: top or None]:
        image, kernel, strides, padding = row["key"]
        ms = sum(row["ms"].values())
        names = ", ".join(row["layers"][:2]) + (" ..." if len(row["layers"]) > 2 else "")
        lines.append(
            f"{'x'.join(map(str, image)):<14}{'x'.join(map(str, kernel)) + ' ' + padding:<20}"
            f"{strides:>6}{row['count']:>6}"
            + "".join(f"{row['gflops'][d]:>22.1f}" for d in DIRECTIONS)
            + f"{ms:>9.1f}{100 * ms / total_ms:>6.1f}%  {names}"
        )
    flops = conv_flops(rows)  # each direction's
    overall = {d: flops / sum(r["ms"][d] for r in rows) / 1e6 for d in DIRECTIONS}
    lines.append(
        f"all convolutions of one step, {flops / 1e9:.1f} GFLOP each way: "
        + ", ".join(
            f"{d} {overall[d]:.1f} GFLOP/s ({overall[d] / reference['forward']:.2f}x the reference)"
            for d in DIRECTIONS
        )
        + f"; {total_ms:.0f} ms in all (3 x {flops / 1e9:.1f} GFLOP at "
        + f"{training_rate(rows):.1f} GFLOP/s)."
    )
    lines.append(
        "reference: 3x3, 64 -> 64 channels, 32x32, the same batch: "
        + ", ".join(f"{d} {reference[d]:.1f}" for d in DIRECTIONS)
        + " GFLOP/s."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    check_flags(PROGRAM, argv, positive=("batch_size", "repetitions"))
    from deepnets.benchmarks.cases import MODEL_CASES  # imports TensorFlow: after the checks

    if FLAGS.model not in MODEL_CASES:
        fail(PROGRAM, f"--model={FLAGS.model!r}: choose one of {', '.join(MODEL_CASES)}")
    rows, reference = profile(FLAGS.model, FLAGS.batch_size, FLAGS.repetitions)
    print(f"{FLAGS.model}, batch {FLAGS.batch_size}, float32, channels last")
    print(format_table(rows, reference, FLAGS.top))
    print(ceiling_text(rows, peak_gflops(FLAGS.repetitions)))
    if FLAGS.step_repetitions > 0:
        whole = step_ms(FLAGS.model, FLAGS.batch_size, FLAGS.step_repetitions)
        convs = sum(sum(r["ms"].values()) for r in rows)
        share = f"{convs:.0f} ms, {100 * convs / whole:.0f}% of it"
        rest = (
            f"the rest ({whole - convs:.0f} ms) is everything else: BatchNorm, activations, "
            "additions, pooling, the loss, the update, and the convolutions' slowdown inside "
            "the whole graph."
            if convs < whole
            else "more than the whole step: inside the graph they ran faster than alone (or the "
            "timings are noisy: raise --repetitions)."
        )
        print(
            f"whole training step (deepnets loop, in-memory data): {whole:.0f} ms; the "
            f"convolutions alone would take {share}; {rest}"
        )


def define_flags() -> None:
    """The program's flags, defined when it runs (not on import: the library functions above
    are imported by other programs and tests, whose own flags share names with these)."""
    flags.DEFINE_string("model", "resnet50_cifar", "A row of deepnets.benchmarks.cases.")
    flags.DEFINE_integer("batch_size", 64, "Images per convolution call.")
    flags.DEFINE_integer(
        "repetitions", 3, "Timed repetitions of each kernel (the median is shown)."
    )
    flags.DEFINE_integer("top", 0, "Show only this many rows (0: all).")
    flags.DEFINE_integer(
        "step_repetitions", 3, "Timed calls of 2 whole training steps, for the share (0: skip)."
    )


def run() -> None:
    """Entry point (python -m experiments.conv_profile)."""
    define_flags()
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
