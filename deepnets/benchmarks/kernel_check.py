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

from collections.abc import Sequence

# The check of one shape is the training runtime's: deepnets-train checks its model's shapes
# with it before it keeps oneDNN on (pyproject.toml's contract lets this one import through).
from deepnets.training.runtime.kernel_check import (
    PARTS,
    Case,
    Finding,
    check_case,
    convolution_parts,
    convolve,
)

__all__ = [
    "CASES",
    "PARTS",
    "Case",
    "Finding",
    "check_case",
    "check_kernels",
    "convolution_parts",
    "convolve",
    "format_findings",
]

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
