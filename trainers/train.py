"""Train a deepnets model: flags -> TrainConfig -> plan_run -> deepnets.training.train.

    deepnets-train --model=resnet18 --model_overrides=stem=cifar --dataset=shapes10 \
        --epochs=3 --global_batch_size=128 --model_dir=runs/r18
    deepnets-train --flagfile=trainers/flagfiles/cifar100_resnet50.cfg --model_dir=runs/r50

A run pointed at a model_dir that holds a checkpoint resumes from it. Bad flag values exit with
status 2 and one line naming the flag; a NaN/Inf loss, a folder another run holds, a full disk
or unreadable checkpoints exit with status 1 and one line saying what to do.
"""

from __future__ import annotations

import sys

from absl import flags

from trainers.cli import (
    cli_errors,
    fail,
    keep_right_kernels,
    quiet_tensorflow_logs,
    run_binary,
    skip_unused_imports,
    use_fast_cpu_kernels,
)

PROGRAM = "deepnets-train"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses
use_fast_cpu_kernels()  # before TensorFlow is imported: it reads the setting when it starts

from trainers.flag_config import config_from_flags, define_train_flags  # noqa: E402

define_train_flags()
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    # Imported here so that `--help` and flag errors answer before TensorFlow starts.
    from deepnets.cpu_kernels import describe_kernels
    from deepnets.training import (
        ConfigError,
        NonFiniteLossError,
        RunFolderError,
        plan_run,
        train,
    )

    with cli_errors(PROGRAM):
        plan = plan_run(config_from_flags(FLAGS))  # first: it may split the CPU into replicas
        keep_right_kernels(PROGRAM, plan.model)  # may restart with oneDNN off
    print(f"Kernels: {describe_kernels()}", flush=True)
    try:
        result = train(plan)
    except (ConfigError, RunFolderError) as err:  # a refused override; a folder in use, full...
        with cli_errors(PROGRAM):
            raise err from None
    except NonFiniteLossError as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
    if result.preempted:
        print(
            f"Stopped by SIGTERM at step {result.final_step}; rerun to resume from it.", flush=True
        )
        return
    metrics = " ".join(f"{k}={v:.4f}" for k, v in sorted(result.eval_metrics.items()))
    print(f"Final step {result.final_step}: eval {metrics}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-train)."""
    run_binary(main, "trainers.flag_config")


if __name__ == "__main__":
    run()
