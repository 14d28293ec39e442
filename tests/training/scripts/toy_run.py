"""Trains a tiny model on in-memory data with the real loop; prints `RESULT {json}`.

Usage: toy_run.py '{"config": {...TrainConfig fields...}, "num_examples": 256, ...}'
The config's loop, optimizer, strategy and seed fields are used; the model and data are toys.
Exit codes: 0 done or preempted, 3 NonFiniteLossError (details in the RESULT line).
"""

from __future__ import annotations

from trainers.cli import end_process, skip_unused_imports

skip_unused_imports()  # as the binaries do, before TensorFlow is imported

import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import training_toys as toys  # noqa: E402

from deepnets.training import (  # noqa: E402
    LoopSettings,
    NonFiniteLossError,
    TrainConfig,
    is_chief,
    make_schedule,
    make_strategy,
    run_loop,
    save_final_model,
)


def weights_digest(model: tf.keras.Model) -> str:
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def main() -> int:
    spec = json.loads(sys.argv[1])
    cfg = TrainConfig(**spec["config"]).validate()
    strategy = make_strategy(cfg)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    if cfg.seed is not None:
        tf.keras.utils.set_random_seed(cfg.seed)
    num_examples = spec.get("num_examples", 256)
    steps_per_epoch = num_examples // cfg.global_batch_size
    runner = toys.toy_runner(
        strategy,
        global_batch_size=cfg.global_batch_size,
        num_examples=num_examples,
        model_fn=lambda: toys.toy_model(
            batch_norm=spec.get("batch_norm", True),
            seed=0 if spec.get("seeded_init", True) else None,
        ),
        with_eval=spec.get("eval", False),
        seed=cfg.seed,
        delay_seconds=spec.get("delay_seconds", 0.0),
        optimizer=cfg,
        learning_rate=make_schedule(cfg, steps_per_epoch, cfg.train_steps),
    )
    settings = LoopSettings(
        total_steps=cfg.train_steps,
        steps_per_epoch=steps_per_epoch,
        steps_per_loop=cfg.steps_per_loop,
        checkpoint_every_steps=cfg.checkpoint_every_steps,
    )
    try:
        result = run_loop(
            runner, settings, model_dir=cfg.model_dir, keep_checkpoints=cfg.keep_checkpoints
        )
    except NonFiniteLossError as err:
        info = {
            "message": str(err),
            "first_step": err.first_step,
            "last_step": err.last_step,
            "checkpoint": err.last_good_checkpoint,
        }
        print("RESULT " + json.dumps(info), flush=True)
        return 3
    if spec.get("save_final") and not result.preempted:
        result.final_model_path, result.saved_model_path = save_final_model(
            runner.model, cfg.model_dir, strategy
        )
    info = {
        "final_step": result.final_step,
        "preempted": result.preempted,
        "resumed_from": result.resumed_from,
        "checkpoint": result.checkpoint_path,
        "train_loss": result.train_metrics.get("loss"),
        "eval": result.eval_metrics,
        "final_model": result.final_model_path,
        "chief": is_chief(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "weights": weights_digest(runner.model),
    }
    print("RESULT " + json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    end_process(main())  # as sys.exit would, without the teardown of TensorFlow's modules
