"""TensorFlow's default CPU kernels against the ones deepnets picks, measured in one run.

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it starts, so the two settings cannot share
a process: `compare_kernels` runs the benchmark (loop and peaks only) in a series of processes,
alternating the settings in ABBA order (reference, deepnets, deepnets, reference, ...), so that
a slow drift of a shared machine hits both alike; each process contributes one timed repetition
per model after its own warm-up. The rows give the loop's images/s under each setting, their
ratio, and the share of the 3x3-convolution peak measured in the same process.

Where TensorFlow leaves oneDNN off (x86 with AVX2, without AVX512-VNNI/BF16 or AMX) the
reference is TensorFlow's default and the other setting is deepnets' choice (oneDNN on). Where
TensorFlow turns oneDNN on by itself, deepnets' choice is the same, and the reference is oneDNN
forced off (`TF_ENABLE_ONEDNN_OPTS=0`): what the slow path costs, said so in the notes.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping
from typing import Any

from deepnets import cpu_kernels
from deepnets.benchmarks.table import aligned, framed


@dataclasses.dataclass(frozen=True)
class KernelSetting:
    """One side of the comparison.

    Attributes:
        label: how the table names it.
        onednn: whether oneDNN runs under it.
        reason: one line: why this is the setting (whose choice it is).
    """

    label: str
    onednn: bool
    reason: str

    @property
    def environ_value(self) -> str:
        """The `TF_ENABLE_ONEDNN_OPTS` value a process of this setting starts with."""
        return "1" if self.onednn else "0"


def kernel_settings(
    flags: frozenset[str] | None = None, machine: str | None = None
) -> tuple[KernelSetting, KernelSetting]:
    """(the reference, deepnets' choice) on this CPU.

    Args:
        flags: the CPU flags (default: this CPU's).
        machine: the processor architecture (default: this one).

    Returns:
        Two settings, the slow path first.

    Raises:
        ValueError: where deepnets makes no choice of its own and TensorFlow leaves oneDNN off
            (no AVX2) or decides by rules deepnets cannot read (not x86).
    """
    choice = cpu_kernels.decide(environ={}, flags=flags, machine=machine)
    if choice.by == "deepnets" and choice.onednn:
        return (
            KernelSetting("TensorFlow's default", False, "oneDNN off: TensorFlow's default here"),
            KernelSetting("deepnets' choice", True, choice.reason),
        )
    if choice.onednn:
        return (
            KernelSetting(
                "oneDNN forced off",
                False,
                "TF_ENABLE_ONEDNN_OPTS=0: the path TensorFlow takes by default on CPUs without "
                "AVX512-VNNI/BF16 or AMX, forced here",
            ),
            KernelSetting("default = deepnets' choice", True, choice.reason),
        )
    raise ValueError(
        f"--compare_kernels: deepnets makes no kernel choice on this CPU ({choice.reason}); "
        "there is nothing to compare"
    )


def interleaved_order(repetitions: int) -> list[int]:
    """The settings' order over `repetitions` rounds: ABBA ... (0: reference, 1: deepnets).

    Raises:
        ValueError: if `repetitions` < 1.
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    return [i for r in range(repetitions) for i in ((0, 1) if r % 2 == 0 else (1, 0))]


@dataclasses.dataclass
class KernelComparison:
    """What `compare_kernels` measured.

    Attributes:
        settings: (reference, deepnets' choice).
        results: per setting, the benchmark results ({"rows", "context"}) of its processes,
            in the order they ran.
    """

    settings: tuple[KernelSetting, KernelSetting]
    results: tuple[list[dict[str, Any]], list[dict[str, Any]]]

    def to_json_dict(self) -> dict[str, Any]:
        """The settings, the rows of `comparison_rows` and every process's result."""
        return {
            "settings": [dataclasses.asdict(s) for s in self.settings],
            "rows": comparison_rows(self),
            "processes": {s.label: r for s, r in zip(self.settings, self.results, strict=True)},
        }


def compare_kernels(
    run_process: Callable[[KernelSetting], Mapping[str, Any]],
    repetitions: int,
    settings: tuple[KernelSetting, KernelSetting] | None = None,
    progress: Callable[[str], None] | None = None,
) -> KernelComparison:
    """Runs `run_process` 2 x `repetitions` times, alternating the settings (ABBA).

    Args:
        run_process: starts one benchmark process under a setting and returns its result
            ({"rows": [...], "context": {...}}, as `BenchmarkResult.to_json_dict`).
        repetitions: processes per setting.
        settings: default `kernel_settings()`.
        progress: called with one line after every process.

    Returns:
        The comparison.

    Raises:
        RuntimeError: when a process did not run the kernels its setting asked for.
    """
    settings = settings or kernel_settings()
    results: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for number, index in enumerate(interleaved_order(repetitions), start=1):
        setting = settings[index]
        result = dict(run_process(setting))
        ran = result["context"].get("onednn")
        if ran is not None and ran != setting.onednn:
            raise RuntimeError(
                f"the process for {setting.label!r} ran with oneDNN {'on' if ran else 'off'}; "
                f"TF_ENABLE_ONEDNN_OPTS={setting.environ_value} did not take effect"
            )
        results[index].append(result)
        if progress is not None:
            rates = ", ".join(f"{r['model']} {r['loop_img_s']:.1f}" for r in result["rows"])
            progress(f"process {number}/{2 * repetitions}: {setting.label}: {rates} img/s")
    return KernelComparison(settings, results)


def _samples(results: list[dict[str, Any]], model: str, key: str) -> list[float]:
    return [row[key] for result in results for row in result["rows"] if row["model"] == model]


def comparison_rows(comparison: KernelComparison) -> list[dict[str, Any]]:
    """One dict per model: images/s and % conv peak under each setting, and their ratio.

    Returns:
        Dicts with "model", "reference_img_s", "deepnets_img_s" (each {"median", "min", "max"}),
        "ratio" (median over median), "reference_conv_peak_percent", "deepnets_conv_peak_percent"
        (medians).
    """
    models = [row["model"] for row in comparison.results[0][0]["rows"]]
    rows = []
    for model in models:
        row: dict[str, Any] = {"model": model}
        for side, results in zip(("reference", "deepnets"), comparison.results, strict=True):
            rates = _samples(results, model, "loop_img_s")
            row[f"{side}_img_s"] = {
                "median": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
            }
            peak = _samples(results, model, "conv_peak_percent")
            row[f"{side}_conv_peak_percent"] = statistics.median(peak)
        row["ratio"] = row["deepnets_img_s"]["median"] / row["reference_img_s"]["median"]
        rows.append(row)
    return rows


def format_comparison(comparison: KernelComparison) -> str:
    """The comparison as a fixed-width table and notes.

    Returns:
        Text ending in a newline.
    """
    reference, chosen = comparison.settings
    header = [
        "model",
        f"{reference.label} img/s",
        f"{chosen.label} img/s",
        "ratio",
        "% conv peak (ref)",
        "% conv peak (deepnets)",
    ]

    def spread(m: dict[str, float]) -> str:
        return f"{m['median']:.1f} [{m['min']:.1f}-{m['max']:.1f}]"

    cells = [header] + [
        [
            r["model"],
            spread(r["reference_img_s"]),
            spread(r["deepnets_img_s"]),
            f"{r['ratio']:.2f}",
            f"{r['reference_conv_peak_percent']:.1f}",
            f"{r['deepnets_conv_peak_percent']:.1f}",
        ]
        for r in comparison_rows(comparison)
    ]
    context = comparison.results[1][0]["context"]
    settings = context["settings"]
    count = len(comparison.results[0])
    cap = context.get("onednn_isa_cap")
    cap_text = (
        f"; in both settings oneDNN capped at {cap} (ONEDNN_MAX_CPU_ISA), which also caps the "
        "matrix products of TensorFlow's default path"
        if cap
        else ""
    )
    notes = [
        f"{context['date']}  TensorFlow {context['tensorflow']}; {context['cpu']}, "
        f"{context['cpu_count']} CPUs{cap_text}.",
        f"{reference.label}: {reference.reason}. {chosen.label}: {chosen.reason}.",
        f"{2 * count} processes, {count} per setting, in ABBA order (TensorFlow reads "
        "TF_ENABLE_ONEDNN_OPTS when it starts); each: a warm-up, then one timed call of "
        f"{settings['steps']} step(s) of the deepnets loop per model, global batch "
        f"{settings['batch_size']}, interleaved with the matmul and 3x3-conv peaks measured in "
        "the same process. img/s: median [min-max] over the processes; ratio: deepnets' over "
        "the reference's median; % conv peak: train FLOP/s over the conv peak of the same "
        "process (the kernels' efficiency on this CPU).",
    ]
    return framed(aligned(cells), notes)
