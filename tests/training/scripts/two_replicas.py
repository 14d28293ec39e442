"""One replica vs two replicas (2 logical CPUs) on the same global batches.

Prints `RESULT {json}` with, for each setup (plain, BatchNorm, XLA, lookahead), the per-step
losses from metrics.csv, the weights after step 1 and after the last step (from the
checkpoints), and the eval metrics (of the plain runs: the only ones the test compares; an
evaluation costs a traced eval step and a redrawn curves.png).
"""

from __future__ import annotations

from trainers.cli import end_process, skip_unused_imports

skip_unused_imports()  # as the binaries do, before TensorFlow is imported

import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import training_toys as toys  # noqa: E402

from deepnets.training import LoopSettings, TrainConfig, configure_cpu_replicas, run_loop  # noqa: E402
from deepnets.training.loop.parts import L2Decay, Lookahead  # noqa: E402
from deepnets.training.reports.reporting import read_metrics_csv  # noqa: E402

GLOBAL_BATCH = 32
STEPS = 3


def checkpoint_weights(path: str, batch_norm: bool) -> list[list]:
    model = toys.toy_model(batch_norm=batch_norm)
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return [w.tolist() for w in model.get_weights()]


def run(
    strategy: tf.distribute.Strategy,
    initial: list,
    *,
    batch_norm: bool,
    jit: bool,
    lookahead: bool = False,
    evaluate: bool = False,
) -> dict:
    model_dir = tempfile.mkdtemp(prefix="two_replicas_")
    cfg = TrainConfig(optimizer="sgd", momentum=0.9, weight_decay=0.0)

    def model_fn() -> tf.keras.Model:
        model = toys.toy_model(batch_norm=batch_norm)
        model.set_weights(initial)
        return model

    runner = toys.toy_runner(
        strategy,
        global_batch_size=GLOBAL_BATCH,
        model_fn=model_fn,
        with_eval=evaluate,
        shuffle=False,
        optimizer=cfg,
        learning_rate=0.1,
        jit_compile=jit,
        parts=[L2Decay(5e-4), *([Lookahead(1, 0.9)] if lookahead else [])],
        # every step, pulled back by 0.9 * (t / 3) ** 3: 3%, 27% and 90%
        **(dict(total_steps=STEPS) if lookahead else {}),
    )
    settings = LoopSettings(
        total_steps=STEPS, steps_per_epoch=8, steps_per_loop=1, checkpoint_every_steps=1
    )
    result = run_loop(runner, settings, model_dir=model_dir, keep_checkpoints=STEPS)
    rows = read_metrics_csv(os.path.join(model_dir, "metrics.csv"))
    out = {
        "losses": [float(r["data_loss"]) for r in rows if r["split"] == "train"],
        "after_step_1": checkpoint_weights(
            os.path.join(model_dir, "checkpoints", "ckpt-1"), batch_norm
        ),
        "after_last_step": checkpoint_weights(result.checkpoint_path, batch_norm),
        "eval": result.eval_metrics,
    }
    if batch_norm:
        moving_mean = runner.model.layers[1].moving_mean.value
        copies = getattr(moving_mean, "values", (moving_mean,))
        out["moving_mean_copies"] = [np.asarray(c).tolist() for c in copies]
    return out


def main() -> int:
    configure_cpu_replicas(2)
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    plain = toys.toy_model(batch_norm=False).get_weights()
    with_bn = toys.toy_model(batch_norm=True).get_weights()
    report = {
        "one_replica": run(one, plain, batch_norm=False, jit=False, evaluate=True),
        "two_replicas": run(two, plain, batch_norm=False, jit=False, evaluate=True),
        "two_replicas_bn": run(two, with_bn, batch_norm=True, jit=False),
        "two_replicas_bn_xla": run(two, with_bn, batch_norm=True, jit=True),
        "one_replica_lookahead": run(one, plain, batch_norm=False, jit=False, lookahead=True),
        "two_replicas_lookahead": run(two, plain, batch_norm=False, jit=False, lookahead=True),
        "replicas": two.num_replicas_in_sync,
    }
    print("RESULT " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    end_process(main())  # as sys.exit would, without the teardown of TensorFlow's modules
