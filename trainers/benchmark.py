"""Training throughput of the deepnets loop against Keras fit, with FLOP utilisation: one table.

    python -m trainers.benchmark                         # all models, batch 64, 5 x 10 steps
    deepnets-benchmark --models=vgg16,resnet50_cifar --batch_size=128 --output_json=bench.json
    deepnets-benchmark --quick                           # a smoke run, under a minute on 2 CPUs
    deepnets-benchmark --mixed_precision=mixed_bfloat16  # bfloat16 compute (bfloat16 CPU units)
    deepnets-benchmark --compare_kernels --models=vgg_fast --repetitions=3
        # TensorFlow's default CPU kernels against deepnets' choice, processes interleaved

For each model it measures (a) the deepnets loop (`StepRunner`), (b) Keras `fit` on the same network
from keras.applications, (c) Keras `fit` on the deepnets model, and inference; plus this
machine's matmul and convolution peak and the augmented input pipeline (see
`deepnets.benchmarks.suite`: this binary turns flags into its `Settings`). The printed notes say
how every column is computed, and which CPU kernels ran and why: like deepnets-train, this
binary turns TensorFlow's oneDNN kernels on where TensorFlow would leave them off
(`deepnets.cpu_kernels`). `--compare_kernels` measures that choice against the other setting in
alternating processes (`deepnets.benchmarks.kernel_compare`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from absl import flags

from trainers.cli import fail, run_binary, skip_unused_imports, use_fast_cpu_kernels

# Before TensorFlow is imported (by deepnets): its C++ start-up chatter stays out of the table,
# and it reads the kernel setting when it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses
use_fast_cpu_kernels()

from deepnets.benchmarks import (  # noqa: E402
    MODEL_CASES,
    PeakSizes,
    Settings,
    format_report,
    report_notes,
    run_benchmark,
)
from deepnets.benchmarks.kernel_compare import (  # noqa: E402
    KernelSetting,
    compare_kernels,
    format_comparison,
    kernel_settings,
)

PROGRAM = "deepnets-benchmark"
MODEL_NAMES = tuple(MODEL_CASES)
# --quick: what the flags default to instead. Two models cover both kinds of row (with and
# without a keras.applications twin); tracing every ResNet-50 graph alone takes minutes.
QUICK = {"models": ["vgg16", "resnet18_cifar"], "batch_size": 8, "repetitions": 2, "steps": 1}

flags.DEFINE_list("models", list(MODEL_NAMES), f"Models to measure, from {', '.join(MODEL_NAMES)}.")
flags.DEFINE_integer("batch_size", 64, "Global batch size (--quick: 8 unless given).")
flags.DEFINE_integer("repetitions", 5, "Timed repetitions per figure (--quick: 2 unless given).")
flags.DEFINE_integer("steps", 10, "Steps per repetition (--quick: 1 unless given).")
flags.DEFINE_bool(
    "quick", False, "Smoke run: vgg16 and resnet18_cifar, tiny sizes; figures not meaningful."
)
flags.DEFINE_string("output_json", None, "Also write the rows and context to this JSON file.")
flags.DEFINE_bool("quiet", False, "Print only the table, not a line per measurement.")
flags.DEFINE_enum(
    "mixed_precision",
    None,
    ["mixed_bfloat16", "mixed_float16"],
    "Train and infer every model under this Keras dtype policy, and measure the peaks in its "
    "compute dtype (default: float32).",
)
flags.DEFINE_bool(
    "loop_only",
    False,
    "Measure only the deepnets loop against the peaks (no fit, inference or input pipeline).",
)
flags.DEFINE_bool(
    "compare_kernels",
    False,
    "Measure the deepnets loop under TensorFlow's default CPU kernels and under deepnets' "
    "choice (oneDNN on; where TensorFlow turns it on by itself, against it forced off), in "
    "2 x --repetitions processes in ABBA order, and print their ratio.",
)
FLAGS = flags.FLAGS


def settings_from_flags(values: flags.FlagValues) -> Settings:
    """Turns the flags into `Settings`; --quick changes the defaults of the flags not given.

    Args:
        values: parsed flags.

    Returns:
        The benchmark settings.

    Raises:
        ValueError: for an unknown model or a non-positive size.
    """
    chosen = {}
    for name in ("models", "batch_size", "repetitions", "steps"):
        use_quick = values.quick and not values[name].present
        chosen[name] = QUICK[name] if use_quick else values[name].value
    unknown = [m for m in chosen["models"] if m not in MODEL_NAMES]
    if unknown or not chosen["models"]:
        raise ValueError(f"--models: unknown {unknown}; choose from {', '.join(MODEL_NAMES)}")
    for name in ("batch_size", "repetitions", "steps"):
        if chosen[name] < 1:
            raise ValueError(f"--{name} must be a positive integer, got {chosen[name]}")
    chosen["models"] = tuple(chosen["models"])
    chosen["quiet"] = values.quiet
    chosen["mixed_precision"] = values.mixed_precision
    chosen["loop_only"] = values.loop_only
    if not values.quick:
        return Settings(**chosen)
    return Settings(
        peak_sizes=PeakSizes(matmul_size=512, conv_batch=8, conv_channels=64, calls=2),
        warmup_steps=1,
        pipeline_batches=5,
        num_examples=64,
        quick=True,
        **chosen,
    )


def _process_runner(settings: Settings):
    """Runs one loop-only benchmark process under a kernel setting; returns its JSON result."""
    args = [
        f"--models={','.join(settings.models)}",
        f"--batch_size={settings.batch_size}",
        f"--steps={settings.steps}",
        "--repetitions=1",
        "--loop_only",
        "--quiet",
    ]
    if settings.quick:
        args.append("--quick")
    if settings.mixed_precision:
        args.append(f"--mixed_precision={settings.mixed_precision}")

    def run_process(setting: KernelSetting) -> dict:
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting.environ_value)
        env.pop("DEEPNETS_ONEDNN_DECISION", None)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            command = [sys.executable, "-m", "trainers.benchmark", *args, f"--output_json={out}"]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                fail(PROGRAM, f"a --compare_kernels process failed:\n{done.stderr[-2000:]}")
            with open(out) as f:
                return json.load(f)

    return run_process


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    try:
        settings = settings_from_flags(FLAGS)
        pair = kernel_settings() if FLAGS.compare_kernels else None
    except ValueError as err:
        fail(PROGRAM, str(err))
    if pair is not None:
        progress = None if settings.quiet else lambda line: print(line, flush=True)
        comparison = compare_kernels(
            _process_runner(settings), settings.repetitions, pair, progress=progress
        )
        print(format_comparison(comparison), end="", flush=True)
        if FLAGS.output_json:
            with open(FLAGS.output_json, "w") as f:
                json.dump(comparison.to_json_dict(), f, indent=2)
                f.write("\n")
        return
    result = run_benchmark(settings)
    print(format_report(result.rows, report_notes(result)), end="", flush=True)
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(result.to_json_dict(), f, indent=2)
            f.write("\n")


def run() -> None:
    """Console-script entry point (deepnets-benchmark)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
