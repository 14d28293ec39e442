"""What the CPU settings do to training speed: oneDNN, thread pools, layout, batch size.

    python -m experiments.cpu_settings [--models=resnet50_cifar,resnet18_w16] [--repetitions=3]

Each setting runs in a fresh process (environment variables and thread pools are fixed when
TensorFlow starts), measuring, interleaved over repetitions:

- the three convolutions of a training step on one ResNet-50-CIFAR layer (3x3, 64 -> 64
  channels, 32x32, batch 64): forward, gradient of the input, gradient of the weights, in GFLOP/s;
- the deepnets training step (`StepRunner.run_steps`) of each model, in images/s.

The table shows each figure as the median and its ratio to the default setting of the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from absl import flags

from trainers.cli import check_flags, run_binary

PROGRAM = "cpu-settings"
SETTINGS = {
    "default": {},
    "no_onednn": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "intra_1": {"threads": (1, 0)},
    "inter_1": {"threads": (0, 1)},
    "intra_2_inter_1": {"threads": (2, 1)},
    "channels_first": {"data_format": "channels_first"},
    "batch_32": {"batch_size": 32},
    "batch_128": {"batch_size": 128},
    "two_cpu_replicas": {"cpu_replicas": 2},
}
flags.DEFINE_list("settings", list(SETTINGS), f"Which of: {', '.join(SETTINGS)}.")
flags.DEFINE_list(
    "models", ["resnet50_cifar", "resnet18_w16"], "Rows of deepnets.benchmarks.cases."
)
flags.DEFINE_integer("repetitions", 3, "Timed repetitions of every figure.")
flags.DEFINE_integer("steps", 5, "Training steps per repetition.")
FLAGS = flags.FLAGS


def measure(setting: dict, models: list[str], repetitions: int, steps: int) -> dict:
    """Runs in the fresh process: the conv figures and each model's training rate."""
    import numpy as np
    import tensorflow as tf

    intra, inter = setting.get("threads", (0, 0))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    replicas = setting.get("cpu_replicas", 1)
    if replicas > 1:
        from deepnets.training import configure_cpu_replicas

        configure_cpu_replicas(replicas)
    import deepnets
    from deepnets.benchmarks.cases import MODEL_CASES
    from deepnets.benchmarks.runners import in_memory_dataset, random_examples
    from deepnets.training import L2Decay, StepRunner, StepSettings
    from experiments.conv_profile import conv_ops

    first = setting.get("data_format") == "channels_first"
    image = (64, 32, 32) if first else (32, 32, 64)
    ops = conv_ops(image, (3, 3, 64, 64), 1, "SAME", 64, "NCHW" if first else "NHWC")
    flops = 2.0 * 64 * 32 * 32 * 9 * 64 * 64
    convs = {f"conv_{direction}": fn for direction, fn in ops.items()}
    contenders = {}
    for name, fn in convs.items():
        fn()  # trace and warm up

        def timed(fn=fn):
            started = time.perf_counter()
            for _ in range(3):
                out = fn()
            out.numpy()
            return 3 * flops / (time.perf_counter() - started) / 1e9

        contenders[name] = timed
    strategy = (
        tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
        if replicas > 1
        else tf.distribute.OneDeviceStrategy("/cpu:0")
    )
    for name in models:
        case = MODEL_CASES[name]
        batch = setting.get("batch_size") or case.batch_size or 64
        images, labels = random_examples(max(2 * batch, 256))
        if first:
            images = np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))
        overrides = dict(case.overrides, data_format="channels_first") if first else case.overrides
        runner = StepRunner(
            strategy,
            lambda case=case, overrides=overrides, shape=images.shape[1:]: deepnets.build_model(
                case.registry_name,
                num_classes=100,
                input_shape=shape,
                classifier_activation=None,
                **overrides,
            ),
            lambda variables: tf.keras.optimizers.SGD(0.01, momentum=0.9),
            lambda ctx, epoch, images=images, labels=labels, batch=batch: in_memory_dataset(
                images, labels, ctx.get_per_replica_batch_size(batch)
            ),
            StepSettings(steps_per_epoch=10**9, global_batch_size=batch, num_classes=100),
            parts=[L2Decay(5e-4)],
        )
        iterator = runner.train_iterator()
        runner.run_steps(iterator, 2)

        def train(runner=runner, iterator=iterator, batch=batch):
            started = time.perf_counter()
            runner.run_steps(iterator, steps)
            return steps * batch / (time.perf_counter() - started)

        contenders[name] = train
    samples = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, contender in contenders.items():
            samples[name].append(contender())
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str]) -> None:
    check_flags(PROGRAM, argv, choices={"settings": SETTINGS})
    results = {}
    for name in FLAGS.settings:
        setting = SETTINGS[name]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **setting.get("env", {})}
        spec = json.dumps([setting, FLAGS.models, FLAGS.repetitions, FLAGS.steps])
        code = (
            "import json, experiments.cpu_settings as m\n"
            f"print('RESULT', json.dumps(m.measure(*json.loads({spec!r}))))"
        )
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
            continue
        results[name] = json.loads(line[len("RESULT ") :])
        print(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[name].items()), flush=True)
    base = results.get("default", {})
    columns = list(next(iter(results.values()), {}))
    print("setting".ljust(18) + "".join(c.rjust(22) for c in columns))
    for name, figures in results.items():
        cells = [
            f"{figures[c]:.1f} ({figures[c] / base[c]:.2f}x)"
            if base.get(c)
            else f"{figures[c]:.1f}"
            for c in columns
        ]
        print(name.ljust(18) + "".join(cell.rjust(22) for cell in cells))
    print("conv_*: GFLOP/s of one 3x3 64->64 layer at 32x32, batch 64; models: training images/s.")


def run() -> None:
    """Entry point (python -m experiments.cpu_settings)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
