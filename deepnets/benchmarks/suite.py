"""The whole benchmark as data: the input pipeline, then one row of figures per model.

Each model's contenders run interleaved with the matmul and convolution peaks, and the row's
utilisation divides by the peaks measured alongside it, so that another process on the machine
slows the yardstick as much as the training it measures.

`run_benchmark(settings)` returns a `BenchmarkResult`: `rows` (one dict per model, the keys of
`deepnets.benchmarks.table.COLUMNS`) and `context` (machine, versions, peaks, pipeline, settings);
`deepnets.benchmarks.notes.report_notes(result)` says what every figure means, and
`deepnets.benchmarks.table.format_report` prints both.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import platform
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from deepnets.benchmarks import runners
from deepnets.benchmarks.flops import forward_flops
from deepnets.benchmarks.peak import PeakSizes, peak_contenders
from deepnets.benchmarks.timing import Contender, Measurement, interleaved_rates
from deepnets.training import BFLOAT16_UNITS, dtype_policy, machine_facts

keras = tf.keras

# Training costs about 3x the forward pass: the backward pass computes gradients with respect
# to both the activations and the weights, each about one forward pass of arithmetic.
TRAIN_FLOPS_PER_FORWARD = 3


@dataclasses.dataclass(frozen=True)
class Settings:
    """What to measure and how long.

    Attributes:
        models: names from `deepnets.benchmarks.runners.MODEL_CASES`, one row each.
        batch_size: global batch size of training and evaluation.
        repetitions: timed repetitions of every figure (the median is reported).
        steps: training/evaluation steps per repetition (all in one compiled call).
        warmup_steps: steps of the untimed warm-up call of every contender.
        peak_sizes: problem sizes of the peak measurements.
        pipeline_batches: input-pipeline batches per repetition.
        num_examples: distinct random examples of the in-memory training data.
        quick: a smoke run (figures not comparable); said in the notes.
        quiet: print only the table (no line per measurement while it runs).
        mixed_precision: the Keras dtype policy every model computes in (None: float32); the
            peaks are then measured in its compute dtype.
        loop_only: measure only the deepnets loop against the peaks (no `fit`, inference or
            input pipeline): what `deepnets-benchmark --compare_kernels` runs in each process.
    """

    models: tuple[str, ...] = tuple(runners.MODEL_CASES)
    batch_size: int = 64
    repetitions: int = 5
    steps: int = 10
    warmup_steps: int = 2
    peak_sizes: PeakSizes = PeakSizes()
    pipeline_batches: int = 50
    num_examples: int = 1024
    quick: bool = False
    quiet: bool = False
    mixed_precision: str | None = None
    loop_only: bool = False

    @property
    def compute_dtype(self) -> str:
        """float32, or the mixed policy's bfloat16/float16."""
        return self.mixed_precision.split("_")[1] if self.mixed_precision else "float32"


@dataclasses.dataclass
class BenchmarkResult:
    """Rows (one dict per model) and context (everything the notes report)."""

    rows: list[dict[str, Any]]
    context: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        """{"rows": ..., "context": ...}, JSON-serializable."""
        return {"rows": self.rows, "context": self.context}


def _put(row: dict[str, Any], key: str, measurement: Measurement | None) -> None:
    """Stores a measurement as key, key_min, key_max (None when not measured)."""
    row[key] = measurement.median if measurement else None
    row[f"{key}_min"] = measurement.low if measurement else None
    row[f"{key}_max"] = measurement.high if measurement else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def benchmark_model(
    case: runners.ModelCase, settings: Settings, peaks: dict[str, Contender]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measures one model: (a) our loop, (b) Keras fit on keras.applications, (c) Keras fit on
    our model, inference, and the peaks, all interleaved.

    Args:
        case: the model.
        settings: sizes and repetitions.
        peaks: from `peak_contenders`; the row's utilisation divides by their medians.

    Returns:
        (the table row, details for the notes: jit_compile choices and samples).
    """
    batch = case.batch_size or settings.batch_size
    examples = runners.random_examples(max(settings.num_examples, 2 * batch))
    precision = settings.mixed_precision
    loop, runner = runners.library_loop(case, examples, batch_size=batch, mixed_precision=precision)
    contenders = {"loop_img_s": loop}
    with dtype_policy(precision):
        keras_app_model = None if settings.loop_only else case.build_keras_application()
        fit_model = case.build_deepnets()
    if keras_app_model is not None:
        contenders["keras_app_fit_img_s"] = runners.keras_fit(
            keras_app_model, examples, batch_size=batch
        )
    flops = forward_flops(fit_model, runners.IMAGE_SHAPE)
    if not settings.loop_only:
        contenders["fit_img_s"] = runners.keras_fit(fit_model, examples, batch_size=batch)
        contenders["eval_img_s"] = runners.inference(runner.model, examples[0][:batch])
    contenders.update({f"{name}_peak": contender for name, contender in peaks.items()})
    measured = interleaved_rates(
        contenders,
        settings.repetitions,
        settings.steps,
        warmup_count=settings.warmup_steps,
        progress=None if settings.quiet else _progress_line(case.name, settings.repetitions),
    )
    row: dict[str, Any] = {"model": case.name, "batch_size": batch, "forward_gflops": flops / 1e9}
    for key in ("loop_img_s", "keras_app_fit_img_s", "fit_img_s", "eval_img_s"):
        _put(row, key, measured.get(key))
    loop_rate = row["loop_img_s"]
    row["loop_vs_keras_app_fit"] = _ratio(loop_rate, row["keras_app_fit_img_s"])
    row["loop_vs_fit"] = _ratio(loop_rate, row["fit_img_s"])
    train_flop_s = TRAIN_FLOPS_PER_FORWARD * flops * loop_rate
    row["train_gflop_s"] = train_flop_s / 1e9
    for name in peaks:
        row[f"{name}_peak_gflop_s"] = measured[f"{name}_peak"].median / 1e9
        row[f"{name}_peak_percent"] = 100 * train_flop_s / measured[f"{name}_peak"].median
    details = {
        "deepnets_loop_jit_compile": runner.jit_compile,
        "keras_app_fit_jit_compile": keras_app_model.jit_compile if keras_app_model else None,
        "fit_jit_compile": None if settings.loop_only else fit_model.jit_compile,
        "samples": {key: m.samples for key, m in measured.items()},
    }
    return row, details


def _progress_line(model: str, repetitions: int) -> Callable[[str, int, Measurement], None]:
    """Prints one line per timed call: model, contender, repetition, rate so far."""

    def show(name: str, repetition: int, measurement: Measurement) -> None:
        unit, scale = ("GFLOP/s", 1e9) if name.endswith("_peak") else ("img/s", 1.0)
        latest = measurement.samples[-1] / scale
        print(
            f"{model:<16} {name:<22} {repetition}/{repetitions}  {latest:,.1f} {unit} "
            f"(median so far {measurement.median / scale:,.1f})",
            flush=True,
        )

    return show


def run_benchmark(settings: Settings) -> BenchmarkResult:
    """Measures the input pipeline, then every model of `settings` alongside the peaks.

    Args:
        settings: what to measure.

    Returns:
        The rows and their context.
    """
    cases = runners.all_models_from(list(settings.models))
    peaks = peak_contenders(settings.peak_sizes, settings.compute_dtype)
    pipeline = None
    if not settings.loop_only:
        pipeline = interleaved_rates(
            {"pipeline": runners.input_pipeline(settings.batch_size)},
            settings.repetitions,
            settings.pipeline_batches,
            warmup_count=settings.pipeline_batches,
        )["pipeline"]
    rows, details = [], {}
    for case in cases:
        row, details[case.name] = benchmark_model(case, settings, peaks)
        rows.append(row)
        keras.backend.clear_session()
        gc.collect()
    for row in rows:
        row["pipeline_vs_loop"] = pipeline.median / row["loop_img_s"] if pipeline else None
    fastest = max(rows, key=lambda r: r["loop_img_s"])
    machine = machine_facts()
    context = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu": machine["cpu"],
        "cpu_count": machine["cpus"],
        "onednn": machine["onednn"],
        "onednn_reason": machine["onednn_reason"],
        "onednn_isa_cap": machine["onednn_isa_cap"],
        **{flag: machine[flag] for flag in BFLOAT16_UNITS},
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "peaks_flop_s": {
            name: Measurement(
                tuple(x for d in details.values() for x in d["samples"][f"{name}_peak"])
            ).to_dict()
            for name in peaks
        },
        "peak_sizes": dataclasses.asdict(settings.peak_sizes),
        "pipeline_img_s": pipeline.to_dict() if pipeline else None,
        "fastest_loop": {"model": fastest["model"], "img_s": fastest["loop_img_s"]},
        "settings": dataclasses.asdict(settings),
        "models": details,
    }
    return BenchmarkResult(rows, context)
