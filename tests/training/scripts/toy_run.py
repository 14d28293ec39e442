"""Trains a tiny model on in-memory data with the real Trainer; prints `RESULT {json}`.

Usage: toy_run.py '{"config": {...TrainConfig fields...}, "num_examples": 256, ...}'
Exit codes: 0 done or preempted, 3 NonFiniteLossError (details in the RESULT line).
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import tensorflow as tf
import training_toys as toys

from deepnets.training import NonFiniteLossError, TrainConfig, Trainer, make_strategy


def weights_digest(model: tf.keras.Model) -> str:
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def main() -> int:
    spec = json.loads(sys.argv[1])
    cfg = TrainConfig(model="toy", dataset="toy", **spec["config"])
    strategy = make_strategy(cfg)
    num_examples = spec.get("num_examples", 256)
    trainer = Trainer(
        cfg,
        strategy,
        lambda: toys.toy_model(
            batch_norm=spec.get("batch_norm", True),
            seed=0 if spec.get("seeded_init", True) else None,
        ),
        toys.make_train_input_fn(
            cfg.global_batch_size,
            num_examples=num_examples,
            seed=cfg.seed,
            delay_seconds=spec.get("delay_seconds", 0.0),
        ),
        steps_per_epoch=num_examples // cfg.global_batch_size,
        input_shape=toys.IMAGE_SHAPE,
        num_classes=toys.NUM_CLASSES,
        eval_input_fn=toys.make_eval_input_fn(cfg.global_batch_size) if spec.get("eval") else None,
    )
    try:
        result = trainer.fit()
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
        result.final_model_path, result.saved_model_path = trainer.save_final_model()
    info = {
        "final_step": result.final_step,
        "preempted": result.preempted,
        "resumed_from": result.resumed_from,
        "checkpoint": result.checkpoint_path,
        "train_loss": result.train_metrics.get("loss"),
        "eval": result.eval_metrics,
        "final_model": result.final_model_path,
        "chief": trainer.chief,
        "replicas": strategy.num_replicas_in_sync,
        "weights": weights_digest(trainer.model),
    }
    print("RESULT " + json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
