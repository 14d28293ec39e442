"""The kernel check: float32 convolutions against a float64 reference (the library,
deepnets.benchmarks.kernel_check, and its binary, trainers/kernel_check.py)."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from deepnets.benchmarks.kernel_check import CASES, PARTS, Case, check_case, check_kernels, convolve

REPO_ROOT = Path(__file__).resolve().parents[2]
CASE = Case(1, 2, 4, 8, 8)


def exact(images, kernel, upstream, stride, padding):
    """`convolve` done in float64 and rounded to float32: right whatever this machine's float32
    kernels do (on some, this very case's weight gradient is wrong)."""
    parts = [tf.cast(t, tf.float64) for t in (images, kernel, upstream)]
    return [tf.cast(t, tf.float32) for t in convolve(*parts, stride, padding)]


def test_a_kernel_off_in_one_part_is_wrong_there_and_only_there():
    def off_weight_gradient(images, kernel, upstream, stride, padding):
        outputs, input_gradient, weight_gradient = exact(images, kernel, upstream, stride, padding)
        return outputs, input_gradient, weight_gradient * 1.01  # 1% off

    findings = check_case(CASE, repeats=2, batch_size=2, compute=off_weight_gradient)
    assert [f.part for f in findings] == list(PARTS)
    verdicts = {f.part: f.verdict(1e-4) for f in findings}
    assert verdicts == {"forward": "ok", "input gradient": "ok", "weight gradient": "WRONG"}
    assert abs(findings[2].error - 0.01) < 1e-3  # the relative error, as made


def test_a_kernel_that_changes_between_calls_varies():
    calls = itertools.count()

    def drifting(images, kernel, upstream, stride, padding):
        outputs, input_gradient, weight_gradient = convolve(
            images, kernel, upstream, stride, padding
        )
        return (
            outputs + 1e-7 * next(calls) * tf.reduce_max(tf.abs(outputs)),
            input_gradient,
            (weight_gradient),
        )

    findings = check_case(CASE, repeats=3, batch_size=2, compute=drifting)
    assert findings[0].distinct == 3 and findings[0].verdict(1e-4) == "VARIES"
    assert findings[0].verdict(1e-8) == "WRONG"  # past the tolerance it is wrong


def run_check(*args, **env):
    environ = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "trainers.kernel_check", *args],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tensorflow_eigen_kernels_pass_every_case():
    done = run_check("--repeats=2", "--batch_size=4", TF_ENABLE_ONEDNN_OPTS="0")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "oneDNN off" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.endswith(("ok", "VARIES", "WRONG"))]
    assert len(rows) == len(CASES) * len(PARTS)
    assert f"0 wrong, 0 varying between calls, of {len(rows)}" in done.stdout


def test_importing_the_tool_defines_no_flags():
    from absl import flags

    import deepnets.benchmarks.kernel_check  # noqa: F401  (imported at the top too)
    import trainers.kernel_check  # noqa: F401

    assert "repeats" not in flags.FLAGS and "tolerance" not in flags.FLAGS


def test_bad_flags_are_named():
    done = run_check("--repeats=0")
    assert done.returncode == 2 and "--repeats=0: expected a positive integer" in done.stderr
    done = run_check("--tolerance=-1")
    assert done.returncode == 2 and "--tolerance=-1.0: expected a positive number" in done.stderr


def test_check_kernels_checks_every_part_of_every_case_and_names_a_bad_argument():
    findings = check_kernels(repeats=1, batch_size=2, cases=[CASE, Case(3, 1, 3, 4, 8)])
    assert [(f.case, f.part) for f in findings] == [
        (case, part) for case in (CASE, Case(3, 1, 3, 4, 8)) for part in PARTS
    ]
    with pytest.raises(ValueError, match="repeats must be a positive integer, got 0"):
        check_kernels(repeats=0, batch_size=2)
