"""What deepnets' fused BatchNormalization buys: the same training step with Keras' own.

    python -m experiments.fused_batchnorm [--models=resnet18_w16,resnet50_cifar] [--repetitions=7]

For each model, two deepnets loops (`deepnets.benchmarks.runners.library_loop`:
`StepRunner.run_steps` on in-memory random data, float32) are built in one process: one traced
with the fused kernel (`FusedBatchNormV3`), one traced with
`deepnets.layers.BatchNormalization.use_fused_kernel` off (Keras' separate elementwise ops, as
deepnets trained before its fused BatchNorm). They are timed interleaved
(`deepnets.benchmarks.interleaved_rates`), and the table shows their images/s (median [min-max])
and the ratio of the medians.
"""

from __future__ import annotations

from absl import flags

from trainers.cli import check_flags, run_binary

PROGRAM = "fused-batchnorm"
FLAGS = flags.FLAGS


def keras_path(contender):
    """`contender` run with the fused kernel off (it matters only while the step is traced:
    its first call)."""
    from deepnets.layers import BatchNormalization

    def run(count: int) -> float:
        previous, BatchNormalization.use_fused_kernel = BatchNormalization.use_fused_kernel, False
        try:
            return contender(count)
        finally:
            BatchNormalization.use_fused_kernel = previous

    return run


def compare(name: str, repetitions: int, steps: int, batch_size: int = 0) -> dict:
    """{"fused": Measurement, "keras": Measurement} for the row `name` of
    deepnets.benchmarks.cases."""
    from deepnets.benchmarks.cases import MODEL_CASES
    from deepnets.benchmarks.runners import library_loop, random_examples
    from deepnets.benchmarks.timing import interleaved_rates

    case = MODEL_CASES[name]
    batch = batch_size or case.batch_size or 64
    examples = random_examples(4 * batch)
    fused, _ = library_loop(case, examples, batch_size=batch)
    keras, _ = library_loop(case, examples, batch_size=batch)
    contenders = {"fused": fused, "keras": keras_path(keras)}
    return interleaved_rates(contenders, repetitions, steps, warmup_count=2)


def format_row(name: str, batch: int, rates: dict) -> str:
    """One line: the model, both rates and their ratio."""
    cells = [
        f"{rates[k].median:.1f} [{rates[k].low:.1f}-{rates[k].high:.1f}]"
        for k in ("fused", "keras")
    ]
    ratio = rates["fused"].median / rates["keras"].median
    return f"{name:<16}{batch:>6}  {cells[0]:<24}{cells[1]:<24}{ratio:.2f}"


def main(argv: list[str]) -> None:
    # The checks that need no model names first: importing them imports TensorFlow (seconds).
    check_flags(PROGRAM, argv, positive=("repetitions", "steps"))
    from deepnets.benchmarks.cases import MODEL_CASES

    check_flags(PROGRAM, argv, choices={"models": MODEL_CASES})
    print(f"{'model':<16}{'batch':>6}  {'fused img/s':<24}{'Keras BN img/s':<24}fused/Keras")
    for name in FLAGS.models:
        batch = MODEL_CASES[name].batch_size or 64
        print(format_row(name, batch, compare(name, FLAGS.repetitions, FLAGS.steps)), flush=True)
    print(
        f"deepnets loop, float32, in-memory random data; {FLAGS.repetitions} interleaved "
        f"repetitions of {FLAGS.steps} steps after 2 warm-up calls each; median [min-max]."
    )


def define_flags() -> None:
    """The program's flags, defined when it runs (its functions are imported by tests)."""
    flags.DEFINE_list(
        "models", ["resnet18_w16", "resnet50_cifar"], "Rows of deepnets.benchmarks.cases."
    )
    flags.DEFINE_integer("repetitions", 7, "Timed repetitions of each loop.")
    flags.DEFINE_integer("steps", 10, "Training steps per repetition.")


def run() -> None:
    """Entry point (python -m experiments.fused_batchnorm)."""
    define_flags()
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
