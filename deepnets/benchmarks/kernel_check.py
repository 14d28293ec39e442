"""Are this machine's float32 convolution kernels right? Each against a float64 reference.

    python -m trainers.kernel_check [--repeats=10]   # the binary, printing the table
    from deepnets.benchmarks.kernel_check import check_kernels, format_findings

For the convolutions deepnets models are made of (3x3 and 1x1, stride 1 and 2, narrow and wide,
the stem's 3 input channels), it computes the forward pass, the input gradient and the weight
gradient in float32 inside a `tf.function`, `repeats` times on the same inputs, and compares
each with the same computation in float64 (TensorFlow's Eigen kernels: oneDNN has none in
float64). A part is WRONG when the largest error exceeds the tolerance times the reference's
largest entry, VARIES when the repeats differ in any bit.

Why: on a 2-core AVX2-only AMD EPYC with `TF_ENABLE_ONEDNN_OPTS=1`, the weight gradient of a 1x1
stride-2 convolution with 3 or 4 input channels came out up to 97% off and different from call
to call (docs/performance.md); this finds such a kernel on any machine in a few seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution: a square `kernel`, `stride`, channels in and out, a square input."""

    kernel: int
    stride: int
    channels_in: int
    channels_out: int
    size: int

    def __str__(self) -> str:
        return (
            f"{self.kernel}x{self.kernel} stride {self.stride}, "
            f"{self.channels_in}->{self.channels_out}, {self.size}x{self.size}"
        )


# The stem (3 channels in), the narrow ResNet shortcuts (1x1 stride 2) and 3x3 layers of the
# widths the tests and the CPU recipes use.
CASES = (
    Case(3, 1, 3, 16, 32),
    Case(2, 1, 3, 24, 32),
    Case(1, 2, 3, 8, 32),
    Case(1, 2, 4, 8, 32),
    Case(1, 2, 8, 16, 32),
    Case(1, 2, 16, 32, 16),
    Case(1, 2, 64, 128, 8),
    Case(1, 1, 4, 16, 32),
    Case(1, 1, 64, 256, 8),
    Case(3, 1, 4, 4, 32),
    Case(3, 2, 4, 8, 32),
    Case(3, 1, 16, 16, 32),
    Case(3, 1, 64, 64, 16),
)
PARTS = ("forward", "input gradient", "weight gradient")


@dataclasses.dataclass(frozen=True)
class Finding:
    """What the float32 results of one part of one case were, against the float64 reference."""

    case: Case
    part: str
    error: float  # largest |float32 - float64| over the largest |float64|, worst repeat
    distinct: int  # different float32 results among the repeats

    def verdict(self, tolerance: float) -> str:
        """ "WRONG" past `tolerance`, else "VARIES" when the repeats differ, else "ok"."""
        if self.error > tolerance:
            return "WRONG"
        return "VARIES" if self.distinct > 1 else "ok"


def convolution_parts(dtype, case: Case, batch_size: int, seed: int = 0):  # noqa: ANN001, ANN201
    """(inputs, kernel, upstream gradient) of `case` as `dtype` tensors, from one seed."""
    rng = np.random.default_rng(seed)
    padding = "VALID" if case.kernel == 1 else "SAME"
    images = rng.normal(size=(batch_size, case.size, case.size, case.channels_in))
    kernel = rng.normal(size=(case.kernel, case.kernel, case.channels_in, case.channels_out))
    out = tf.nn.conv2d(
        tf.zeros(images.shape, tf.float64), tf.zeros(kernel.shape, tf.float64), case.stride, padding
    ).shape
    upstream = rng.normal(size=out)
    return tuple(tf.constant(a, dtype) for a in (images, kernel, upstream)), padding


def convolve(images, kernel, upstream, stride: int, padding: str):  # noqa: ANN001, ANN201
    """Outputs, input gradient and weight gradient of sum(conv2d(images, kernel) * upstream)."""
    with tf.GradientTape() as tape:
        tape.watch([images, kernel])
        outputs = tf.nn.conv2d(images, kernel, stride, padding)
        total = tf.reduce_sum(outputs * upstream)
    return (outputs, *tape.gradient(total, [images, kernel]))


def check_case(
    case: Case, repeats: int, batch_size: int, compute: Callable | None = None
) -> list[Finding]:
    """The findings of the three parts of `case`: `compute` (default `convolve` in a
    `tf.function`) in float32 `repeats` times, against `convolve` in float64."""
    compute = compute or tf.function(convolve)
    parts32, padding = convolution_parts(tf.float32, case, batch_size)
    parts64, _ = convolution_parts(tf.float64, case, batch_size)
    reference = [t.numpy() for t in convolve(*parts64, case.stride, padding)]
    runs = [[t.numpy() for t in compute(*parts32, case.stride, padding)] for _ in range(repeats)]
    findings = []
    for i, part in enumerate(PARTS):
        scale = float(np.abs(reference[i]).max()) or 1.0
        error = max(float(np.abs(run[i] - reference[i]).max()) / scale for run in runs)
        distinct = len({run[i].tobytes() for run in runs})
        findings.append(Finding(case, part, error, distinct))
    return findings


def format_findings(findings: Sequence[Finding], tolerance: float) -> str:
    """The findings as a table: convolution, part, error, distinct results and the verdict."""
    lines = [f"{'convolution':<34} {'part':<16} {'error':>9} {'distinct':>8}  verdict"]
    for f in findings:
        lines.append(
            f"{f.case!s:<34} {f.part:<16} {f.error:>9.1e} {f.distinct:>8}  {f.verdict(tolerance)}"
        )
    return "\n".join(lines)


def check_kernels(repeats: int, batch_size: int, cases: Sequence[Case] = CASES) -> list[Finding]:
    """The findings of every part of every case, in order (`check_case` of each).

    Args:
        repeats: float32 calls of each computation on the same inputs.
        batch_size: images per call.
        cases: the convolutions to check.

    Returns:
        Three findings per case: forward, input gradient, weight gradient.

    Raises:
        ValueError: if `repeats` or `batch_size` is below 1.
    """
    for name, value in (("repeats", repeats), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    return [finding for case in cases for finding in check_case(case, repeats, batch_size)]
