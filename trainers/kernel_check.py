"""Are this machine's float32 convolution kernels right? Each against a float64 reference.

    python -m trainers.kernel_check [--repeats=10]
    TF_ENABLE_ONEDNN_OPTS=1 python -m trainers.kernel_check   # the kernels oneDNN brings

Prints the machine, then one row per part (forward, input gradient, weight gradient) of every
convolution of `deepnets.benchmarks.kernel_check.CASES`: its largest error relative to the
float64 reference's largest entry, how many distinct results the `--repeats` calls gave, and the
verdict. A row is WRONG when the error exceeds `--tolerance`, VARIES when the calls differ in
any bit. Exits 1 when a row is WRONG.
"""

from __future__ import annotations

import sys

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "kernel-check"
quiet_tensorflow_logs(PROGRAM)
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The tool's flags, defined when it runs (importing the module defines none, so its
    functions can be used beside other binaries' flags)."""
    flags.DEFINE_integer("repeats", 10, "Calls of each float32 computation on the same inputs.")
    flags.DEFINE_float("tolerance", 1e-4, "Largest error allowed, relative to the largest entry.")
    flags.DEFINE_integer("batch_size", 16, "Images per call.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    for name in ("repeats", "batch_size"):
        if FLAGS[name].value < 1:
            fail(PROGRAM, f"--{name}={FLAGS[name].value}: expected a positive integer")
    if not FLAGS.tolerance > 0:
        fail(PROGRAM, f"--tolerance={FLAGS.tolerance}: expected a positive number")
    from deepnets.benchmarks.kernel_check import check_kernels, format_findings
    from deepnets.training import describe_machine

    print(f"Machine: {describe_machine()}", flush=True)
    findings = check_kernels(FLAGS.repeats, FLAGS.batch_size)
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
    """Entry point (python -m trainers.kernel_check)."""
    define_flags()
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
