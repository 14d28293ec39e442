"""deepnets-benchmark --compare_kernels: the two kernel settings, their ABBA order, the table."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deepnets.benchmarks.kernel_compare import (
    KernelSetting,
    compare_kernels,
    comparison_rows,
    format_comparison,
    interleaved_order,
    kernel_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
AVX2 = frozenset("sse4_2 avx avx2 fma".split())
AMX = AVX2 | {"avx512f", "avx512_bf16", "amx_tile"}


def test_on_avx2_tensorflows_default_is_compared_with_deepnets_choice():
    reference, chosen = kernel_settings(AVX2, "x86_64")
    assert (reference.onednn, reference.environ_value) == (False, "0")
    assert reference.label == "TensorFlow's default"
    assert (chosen.onednn, chosen.environ_value) == (True, "1")
    assert chosen.reason == "turned on by deepnets: AVX2 without AVX512-VNNI/BF16 or AMX"


def test_where_tensorflow_turns_onednn_on_itself_the_reference_is_it_forced_off():
    reference, chosen = kernel_settings(AMX, "x86_64")
    assert reference.label == "oneDNN forced off" and not reference.onednn
    assert "TF_ENABLE_ONEDNN_OPTS=0" in reference.reason
    assert chosen.onednn and "TensorFlow's default on this CPU (AMX" in chosen.reason


@pytest.mark.parametrize(
    ("flags", "machine"), [(frozenset({"sse4_2", "avx"}), "x86_64"), (AVX2, "aarch64")]
)
def test_without_a_choice_of_deepnets_there_is_nothing_to_compare(flags, machine):
    with pytest.raises(ValueError, match="--compare_kernels: deepnets makes no kernel choice"):
        kernel_settings(flags, machine)


def test_the_settings_alternate_abba():
    assert interleaved_order(1) == [0, 1]
    assert interleaved_order(3) == [0, 1, 1, 0, 0, 1]
    with pytest.raises(ValueError, match="repetitions must be >= 1, got 0"):
        interleaved_order(0)


def _fake_result(onednn: bool, rate: float) -> dict:
    return {
        "rows": [{"model": "m", "loop_img_s": rate, "conv_peak_percent": rate / 10}],
        "context": {
            "onednn": onednn,
            "date": "2026-12-07T00:00:00+00:00",
            "tensorflow": "2.21.0",
            "cpu": "a CPU",
            "cpu_count": 2,
            "settings": {"steps": 3, "batch_size": 16},
        },
    }


def test_rows_take_medians_per_setting_and_their_ratio():
    pair = kernel_settings(AVX2, "x86_64")
    rates = iter([100.0, 250.0, 260.0, 110.0, 90.0, 200.0])  # in ABBA order
    ran = []

    def run_process(setting: KernelSetting) -> dict:
        ran.append(setting.environ_value)
        return _fake_result(setting.onednn, next(rates))

    lines = []
    comparison = compare_kernels(run_process, 3, pair, progress=lines.append)
    assert ran == ["0", "1", "1", "0", "0", "1"]
    assert len(lines) == 6 and lines[0].startswith("process 1/6: TensorFlow's default: m 100.0")
    (row,) = comparison_rows(comparison)
    assert row["reference_img_s"] == {"median": 100.0, "min": 90.0, "max": 110.0}
    assert row["deepnets_img_s"] == {"median": 250.0, "min": 200.0, "max": 260.0}
    assert row["ratio"] == pytest.approx(2.5)
    assert row["reference_conv_peak_percent"] == pytest.approx(10.0)
    text = format_comparison(comparison)
    table = [line for line in text.splitlines() if line.startswith("m ")]
    assert re.split(r"\s{2,}", table[0]) == [
        "m",
        "100.0 [90.0-110.0]",
        "250.0 [200.0-260.0]",
        "2.50",
        "10.0",
        "25.0",
    ]
    assert "6 processes, 3 per setting, in ABBA order" in text and "capped" not in text
    assert json.loads(json.dumps(comparison.to_json_dict()))["rows"][0]["ratio"] == 2.5
    comparison.results[1][0]["context"]["onednn_isa_cap"] = "AVX2"  # ONEDNN_MAX_CPU_ISA=AVX2
    assert "2 CPUs; in both settings oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA)" in (
        format_comparison(comparison)
    )


def test_a_process_that_ran_the_wrong_kernels_is_an_error():
    pair = kernel_settings(AVX2, "x86_64")
    with pytest.raises(RuntimeError, match="TF_ENABLE_ONEDNN_OPTS=0 did not take effect"):
        compare_kernels(lambda setting: _fake_result(True, 1.0), 1, pair)


def test_the_binary_runs_each_setting_in_its_own_process(tmp_path):
    """End to end, with this CPU pretending to be AVX2-only and oneDNN's kernels capped at AVX2
    as an AVX2 CPU's are (how docs/performance.md measures an AVX2 row set on a newer CPU): the
    reference process must really run with oneDNN off and deepnets' with it on (compare_kernels
    checks each process's own report of its kernels)."""
    out = tmp_path / "compare.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_ENABLE", "DEEPNETS_"))}
    env["DEEPNETS_FAKE_CPU_FLAGS"] = " ".join(sorted(AVX2))
    env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainers.benchmark",
            "--compare_kernels",
            "--quick",
            "--models=vgg_fast_half",
            "--repetitions=1",
            f"--output_json={out}",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [s["label"] for s in result["settings"]] == ["TensorFlow's default", "deepnets' choice"]
    contexts = {label: runs[0]["context"] for label, runs in result["processes"].items()}
    assert contexts["TensorFlow's default"]["onednn"] is False
    assert contexts["deepnets' choice"]["onednn"] is True
    assert {c["onednn_isa_cap"] for c in contexts.values()} == {"AVX2"}
    assert "oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA)" in done.stdout
    assert result["rows"][0]["model"] == "vgg_fast_half" and result["rows"][0]["ratio"] > 0
    assert "vgg_fast_half" in done.stdout and "ratio" in done.stdout
