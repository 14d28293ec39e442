"""The throughput benchmark prints one well-formed table (no assertion on any timing)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deepnets.benchmarks.notes import report_notes
from deepnets.benchmarks.peak import conv_contender, matmul_contender, peak_contenders
from deepnets.benchmarks.table import COLUMNS, HEADERS, NA, format_rows
from deepnets.benchmarks.timing import interleaved_rates
from deepnets.training.runtime.machine import cpu_flags

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK_MODELS = ["vgg16", "resnet18_cifar"]  # the --quick default: one row with (b), one without
NUMBER = r"\d+(?:\.\d+)?"


def run_benchmark(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "trainers.benchmark", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def table_cells(stdout: str) -> list[list[str]]:
    """The header and row cells of the table between the first two rules."""
    lines = stdout.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    assert len(rules) >= 2, stdout
    return [re.split(r"\s{2,}", line.strip()) for line in lines[rules[0] + 1 : rules[1]]]


def parse_measured(cell: str) -> tuple[float, float, float]:
    match = re.fullmatch(rf"({NUMBER}) \[({NUMBER})-({NUMBER})\]", cell)
    assert match, f"not 'median [min-max]': {cell!r}"
    median, low, high = (float(g) for g in match.groups())
    return median, low, high


def rounding(text: str) -> float:
    """Half a unit of the last printed digit: how far the printed figure can be from the true."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def assert_printed_ratio(ratio: str, numerator: str, denominator: str) -> None:
    """The printed ratio is the ratio of the figures the printed ones were rounded from."""
    top, bottom = float(numerator), float(denominator)
    top_err, bottom_err = rounding(numerator), rounding(denominator)
    low = (top - top_err) / (bottom + bottom_err) - rounding(ratio)
    high = (top + top_err) / (bottom - bottom_err) + rounding(ratio)
    assert low <= float(ratio) <= high, (ratio, numerator, denominator)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    json_path = tmp_path_factory.mktemp("benchmark") / "figures.json"
    result = run_benchmark("--quick", f"--output_json={json_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(json_path) as f:
        return result.stdout, json.load(f)


def test_quick_run_prints_one_well_formed_table(quick_run):
    stdout, _ = quick_run
    cells = table_cells(stdout)
    header, rows = cells[0], cells[1:]
    assert header == list(HEADERS)
    assert [row[0] for row in rows] == QUICK_MODELS
    col = {name: i for i, name in enumerate(header)}
    for row in rows:
        assert len(row) == len(header), row
        has_keras_app = row[0] == "vgg16"
        for name in header[1:]:
            cell = row[col[name]]
            if name in ("(b) keras-app fit img/s", "a/b") and not has_keras_app:
                assert cell == NA
            elif name.endswith("img/s"):
                median, low, high = parse_measured(cell)
                assert 0 < low <= median <= high
            else:
                assert float(cell) > 0, (name, cell)
        loop = row[col["(a) loop img/s"]].split()[0]
        assert_printed_ratio(row[col["a/c"]], loop, row[col["(c) fit img/s"]].split()[0])
        if has_keras_app:
            keras_app = row[col["(b) keras-app fit img/s"]].split()[0]
            assert_printed_ratio(row[col["a/b"]], loop, keras_app)


def test_quick_run_prints_a_line_per_measurement_before_the_table(quick_run):
    stdout, _ = quick_run
    before_table = stdout.split("\n-", 1)[0].splitlines()
    lines = [line for line in before_table if re.match(r"^(vgg16|resnet18_cifar) ", line)]
    # Two repetitions of every contender: 4 of vgg16 (a, b, c, eval) plus 2 peaks, 3 + 2 of
    # resnet18_cifar (no keras.applications twin).
    assert len(lines) == 2 * (6 + 5)
    assert re.search(
        r"^vgg16 +loop_img_s +2/2 +[\d,.]+ img/s \(median so far [\d,.]+\)$", "\n".join(lines), re.M
    )
    assert any("conv_peak" in line and "GFLOP/s" in line for line in lines)


def test_quick_run_notes_explain_the_figures(quick_run):
    stdout, _ = quick_run
    notes = stdout.split("\n", 1)[1]
    for fact in ("TensorFlow", "matmul", "3x3 conv", "GFLOP/s", "3 x fwd FLOPs", "jit_compile"):
        assert fact in notes
    assert "QUICK MODE" in notes
    onednn = "on" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else "off"
    flags = cpu_flags()  # the CPU's bfloat16 units
    units = ", AMX-BF16" if "amx_bf16" in flags else ""
    units = units or (", AVX512-BF16" if "avx512_bf16" in flags else "")
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if setting in ("0", "1"):  # the setting, and who made it, are in the notes
        reason = f"set by the user: TF_ENABLE_ONEDNN_OPTS={setting}"
        assert f"CPUs, oneDNN {onednn} ({reason}){units};" in notes


def test_json_holds_the_same_rows_with_exact_ratios(quick_run):
    _, figures = quick_run
    rows = figures["rows"]
    assert [r["model"] for r in rows] == QUICK_MODELS
    vgg, resnet = rows
    assert vgg["loop_vs_keras_app_fit"] == pytest.approx(
        vgg["loop_img_s"] / vgg["keras_app_fit_img_s"]
    )
    assert resnet["keras_app_fit_img_s"] is None and resnet["loop_vs_keras_app_fit"] is None
    for row in rows:
        assert row["loop_vs_fit"] == pytest.approx(row["loop_img_s"] / row["fit_img_s"])
        assert row["train_gflop_s"] == pytest.approx(3 * row["forward_gflops"] * row["loop_img_s"])
        for peak in ("conv", "matmul"):
            utilisation = 100 * row["train_gflop_s"] / row[f"{peak}_peak_gflop_s"]
            assert row[f"{peak}_peak_percent"] == pytest.approx(utilisation)
    peaks = figures["context"]["peaks_flop_s"]
    assert set(peaks) == {"matmul", "conv"} and all(p["median"] > 0 for p in peaks.values())
    assert figures["context"]["settings"]["quick"] is True


def test_unknown_model_is_a_usage_error_before_anything_is_measured():
    # TensorFlow is imported (the model names come from deepnets.benchmarks) but runs nothing.
    result = run_benchmark("--models=vgg16,resnet1000", timeout=180)
    assert result.returncode == 2 and result.stdout == ""
    assert "resnet1000" in result.stderr and "resnet50_cifar" in result.stderr


def test_flag_model_names_are_the_benchmark_cases():
    from deepnets.benchmarks import runners
    from trainers import benchmark

    assert list(benchmark.MODEL_NAMES) == list(runners.MODEL_CASES)


def test_format_rows_aligns_columns_and_writes_na():
    row = {}
    for _, key, _ in COLUMNS:
        row[key] = row[f"{key}_min"] = row[f"{key}_max"] = 1.5
    row.update(model="m", batch_size=64, keras_app_fit_img_s=None, loop_vs_keras_app_fit=None)
    lines = format_rows([row, dict(row, model="a_longer_name", loop_img_s=1234.5)])
    cells = [re.split(r"\s{2,}", line) for line in lines]
    assert cells[0] == list(HEADERS) and all(len(c) == len(HEADERS) for c in cells)
    loop = HEADERS.index("(a) loop img/s")
    assert len({line.index(c[loop]) for line, c in zip(lines, cells, strict=True)}) == 1
    assert cells[1][HEADERS.index("a/b")] == NA
    assert cells[1][HEADERS.index("(b) keras-app fit img/s")] == NA
    assert cells[2][loop] == "1234 [1.50-1.50]"


def test_interleaved_rates_rotate_the_order_and_report_medians():
    calls = []

    def contender(name, rates):
        def run(count):
            calls.append((name, count))
            return rates.pop(0)

        return run

    seen = []
    measured = interleaved_rates(
        {"a": contender("a", [0, 3, 1, 2]), "b": contender("b", [0, 5, 4, 6])},
        repetitions=3,
        count=10,
        warmup_count=2,
        progress=lambda name, repetition, so_far: seen.append((name, repetition, so_far.median)),
    )
    assert seen == [("a", 1, 3), ("b", 1, 5), ("b", 2, 4.5), ("a", 2, 2), ("a", 3, 2), ("b", 3, 5)]
    warmup = [("a", 2), ("b", 2)]
    assert calls == warmup + [("a", 10), ("b", 10), ("b", 10), ("a", 10), ("a", 10), ("b", 10)]
    assert measured["a"].samples == (3, 1, 2) and measured["a"].median == 2
    assert (measured["b"].low, measured["b"].median, measured["b"].high) == (4, 5, 6)


def test_printed_ratio_check_allows_rounding_only():
    # 10.05 / 9.95 = 1.0101 is within the rounding of "10.0" / "10.0", printed as 1.01.
    assert_printed_ratio("1.01", "10.0", "10.0")
    assert_printed_ratio("0.99", "100", "101")
    with pytest.raises(AssertionError):
        assert_printed_ratio("1.02", "10.0", "10.0")
    with pytest.raises(AssertionError):
        assert_printed_ratio("0.97", "100", "101")


def test_a_mixed_policy_trains_every_contender_in_it_against_peaks_in_its_dtype(monkeypatch):
    from deepnets.benchmarks import runners, suite
    from deepnets.benchmarks.peak import PeakSizes

    trained = []  # the models each training contender got
    for name in ("library_loop", "keras_fit"):
        measure = getattr(runners, name)

        def spy(model_or_case, *args, _measure=measure, **kwargs):
            made = _measure(model_or_case, *args, **kwargs)
            trained.append(made[1].model if isinstance(made, tuple) else model_or_case)
            return made

        monkeypatch.setattr(runners, name, spy)
    peak_dtypes = []
    monkeypatch.setattr(
        suite,
        "peak_contenders",
        lambda sizes, dtype: peak_dtypes.append(dtype) or peak_contenders(sizes, dtype),
    )
    settings = suite.Settings(
        models=("vgg16",),
        batch_size=2,
        repetitions=1,
        steps=1,
        warmup_steps=1,
        peak_sizes=PeakSizes(matmul_size=64, conv_batch=2, conv_size=8, conv_channels=8, calls=1),
        pipeline_batches=1,
        num_examples=4,
        quick=True,
        quiet=True,
        mixed_precision="mixed_bfloat16",
    )
    result = suite.run_benchmark(settings)
    assert len(trained) == 3  # (a) the loop, (b) keras.applications' VGG16, (c) deepnets'
    assert all(model.dtype_policy.name == "mixed_bfloat16" for model in trained)
    assert peak_dtypes == ["bfloat16"]
    assert result.rows[0]["loop_img_s"] > 0 and result.rows[0]["conv_peak_gflop_s"] > 0
    notes = " ".join(report_notes(result))
    assert "mixed_bfloat16 (float32 weights, bfloat16 compute)" in notes
    assert "Peak bfloat16, measured in this run" in notes


def test_the_peaks_run_in_float32_and_bfloat16():
    for dtype in ("float32", "bfloat16"):
        assert conv_contender(2, 8, 8, dtype)(1) > 0
        assert matmul_contender(64, dtype)(1) > 0
