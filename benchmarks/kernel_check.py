"""Are this machine's float32 convolution kernels right? Each against a float64 reference.

    python -m benchmarks.kernel_check [--repeats=10]
    TF_ENABLE_ONEDNN_OPTS=1 python -m benchmarks.kernel_check   # the kernels oneDNN brings

For the convolutions deepnets models are made of (3x3 and 1x1, stride 1 and 2, narrow and wide,
the stem's 3 input channels), it computes the forward pass, the input gradient and the weight
gradient in float32 inside a `tf.function`, `--repeats` times on the same inputs, and compares
each with the same computation in float64 (TensorFlow's Eigen kernels: oneDNN has none in
float64). A row is WRONG when the largest error exceeds `--tolerance` times the reference's
largest entry, VARIES when the repeats differ in any bit. Exits 1 when a row is WRONG.

Why: on a 2-core AVX2-only AMD EPYC with `TF_ENABLE_ONEDNN_OPTS=1`, the weight gradient of a 1x1
stride-2 convolution with 3 or 4 input channels came out up to 97% off and different from call
to call (docs/performance.md); this tool finds such a kernel on any machine in a few seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary

PROGRAM = "kernel-check"
quiet_tensorflow_logs(PROGRAM)

# The check of one shape is the library's (deepnets-train checks its model's shapes with it).
from deepnets.training.runtime.kernel_check import (  # noqa: E402, F401
    PARTS,
    Case,
    Finding,
    check_case,
    convolution_parts,
    convolve,
)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The tool's flags, defined when it runs (importing the module defines none, so its
    functions can be used beside other binaries' flags)."""
    flags.DEFINE_integer("repeats", 10, "Calls of each float32 computation on the same inputs.")
    flags.DEFINE_float("tolerance", 1e-4, "Largest error allowed, relative to the largest entry.")
    flags.DEFINE_integer("batch_size", 16, "Images per call.")


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


def format_findings(findings: Sequence[Finding], tolerance: float) -> str:
    lines = [f"{'convolution':<34} {'part':<16} {'error':>9} {'distinct':>8}  verdict"]
    for f in findings:
        lines.append(
            f"{f.case!s:<34} {f.part:<16} {f.error:>9.1e} {f.distinct:>8}  {f.verdict(tolerance)}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    for name in ("repeats", "batch_size"):
        if FLAGS[name].value < 1:
            fail(PROGRAM, f"--{name}={FLAGS[name].value}: expected a positive integer")
    if not FLAGS.tolerance > 0:
        fail(PROGRAM, f"--tolerance={FLAGS.tolerance}: expected a positive number")
    from deepnets.training.runtime.machine import describe_machine

    print(f"Machine: {describe_machine()}", flush=True)
    findings = []
    for case in CASES:
        findings += check_case(case, FLAGS.repeats, FLAGS.batch_size)
    print(format_findings(findings, FLAGS.tolerance))
    wrong = [f for f in findings if f.verdict(FLAGS.tolerance) == "WRONG"]
    varies = [f for f in findings if f.verdict(FLAGS.tolerance) == "VARIES"]
    print(
        f"{len(wrong)} wrong, {len(varies)} varying between calls, of {len(findings)} "
        f"(tolerance {FLAGS.tolerance:g}, {FLAGS.repeats} calls each).",
        flush=True,
    )
    if wrong:
        sys.exit(1)


def run() -> None:
    """Entry point (python -m benchmarks.kernel_check)."""
    define_flags()
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
