"""The lines under the benchmark's table: the machine, the kernels, the method, and what every
column means."""

from __future__ import annotations

from typing import Any

from deepnets.benchmarks.suite import TRAIN_FLOPS_PER_FORWARD, BenchmarkResult
from deepnets.benchmarks.table import NA
from deepnets.training import bfloat16_units


def _spread(m: dict[str, Any], scale: float = 1.0, fmt: str = ".1f") -> str:
    return f"{m['median'] / scale:{fmt}} [{m['min'] / scale:{fmt}}-{m['max'] / scale:{fmt}}]"


def report_notes(result: BenchmarkResult) -> list[str]:
    """The lines under the table: the machine, the method and what each column means.

    Args:
        result: from `run_benchmark`.

    Returns:
        Lines of text.
    """
    ctx, s = result.context, result.context["settings"]
    peaks, sizes = ctx["peaks_flop_s"], ctx["peak_sizes"]
    device = ", ".join(ctx["gpus"]) or "CPU only"
    onednn = {True: "on", False: "off"}.get(ctx.get("onednn"), "unknown")
    if ctx.get("onednn_reason"):  # which kernels ran and who chose them (deepnets.cpu_kernels)
        onednn = f"{onednn} ({ctx['onednn_reason']})"
    if ctx.get("onednn_isa_cap"):  # ONEDNN_MAX_CPU_ISA: the kernels of a lesser CPU
        onednn += f", its kernels capped at {ctx['onednn_isa_cap']} (ONEDNN_MAX_CPU_ISA)"
    jit = "; ".join(
        f"{name}: (a) {d['deepnets_loop_jit_compile']}, (b) "
        f"{NA if d['keras_app_fit_jit_compile'] is None else d['keras_app_fit_jit_compile']}, "
        f"(c) {NA if d['fit_jit_compile'] is None else d['fit_jit_compile']}"
        for name, d in ctx["models"].items()
    )
    fastest = ctx["fastest_loop"]
    pipeline = ctx["pipeline_img_s"]
    units = bfloat16_units(ctx)
    units_text = f", {units}" if units else ""
    policy = s.get("mixed_precision")
    dtype = policy.split("_")[1] if policy else "float32"
    precision = f"{policy} (float32 weights, {dtype} compute)" if policy else "float32"
    lines = [
        f"{ctx['date']}  TensorFlow {ctx['tensorflow']}, Keras {ctx['keras']}, Python "
        f"{ctx['python']}; {ctx['cpu']}, {ctx['cpu_count']} CPUs, oneDNN {onednn}{units_text}; "
        f"{device}.",
        f"Settings: global batch {s['batch_size']} (one replica; a row's own where its batch "
        f"column differs), {precision}, 32x32x3 inputs, "
        f"100 classes; {s['repetitions']} repetitions of {s['steps']} step(s) after a warm-up "
        f"of {s['warmup_steps']} each, interleaved (the order rotates every repetition). "
        "A figure is the median; [min-max] over repetitions.",
        f"Peak {dtype}, measured in this run, interleaved with every model's repetitions (each "
        "row divides by the medians measured alongside it; over all rows): matmul "
        f"{sizes['matmul_size']}x"
        f"{sizes['matmul_size']} {_spread(peaks['matmul'], 1e9)} GFLOP/s; 3x3 conv "
        f"{sizes['conv_batch']}x{sizes['conv_size']}x{sizes['conv_size']}x"
        f"{sizes['conv_channels']}->{sizes['conv_channels']} NHWC "
        f"{_spread(peaks['conv'], 1e9)} GFLOP/s.",
        "(a) loop: deepnets.training.StepRunner.run_steps, steps in one tf.function (tf.range "
        "around strategy.run), OneDeviceStrategy, SGD momentum 0.9, L2 weight decay 5e-4 added to "
        "the kernels' gradients in the step, train loss/top-1 metrics (top-5 once per call); "
        "in-memory random data (from_tensor_slices, "
        "repeat, batch; tf.data autotuning off, see deepnets/benchmarks/runners.py).",
        "(b) keras-app fit: the keras.applications model (weights=None, logits), compile(SGD "
        "momentum 0.9, weight_decay=5e-4; sparse CE from logits) + fit(epochs=1, "
        "steps_per_epoch=steps) per repetition, fit's per-call overhead included; same data. "
        "n/a: keras.applications has no such model.",
        "(c) fit: the deepnets model trained exactly like (b) (deepnets' VGG head has "
        "dropout 0.5, keras.applications' none). a/b, a/c: ratios of the medians.",
        f"jit_compile (XLA) used: {jit}.",
        "fwd GFLOP/img: forward FLOPs per image from deepnets.benchmarks.flops: every Conv2D, "
        "Dense and PatchWhitening layer, 2 FLOPs per multiply-add; BatchNorm, ReLU, pooling, adds "
        "not counted.",
        f"train GFLOP/s = {TRAIN_FLOPS_PER_FORWARD} x fwd FLOPs x (a) img/s (convention: a "
        "training step costs 3 forward passes). % conv peak (the utilisation figure) and "
        "% matmul peak divide it by the row's peaks.",
        "eval img/s: model(x, training=False) in a tf.function, same batch size.",
    ]
    if pipeline is None:
        lines.append("LOOP ONLY: (b), (c), inference and the input pipeline not measured.")
    else:
        lines.append(
            f"Input pipeline: make_train_dataset('shapes10', {s['batch_size']}, augment=True) "
            f"alone: {_spread(pipeline)} img/s; pipeline/a = that / (a) of the row. Fastest (a): "
            f"{fastest['model']} at {fastest['img_s']:.1f} img/s -> pipeline "
            f"{pipeline['median'] / fastest['img_s']:.1f}x. (It shares the same CPUs in a real "
            "run.)"
        )
    if s["quick"]:
        lines.append(
            "QUICK MODE: a smoke run with few steps and small sizes; figures not meaningful."
        )
    return lines
