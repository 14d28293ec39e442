"""Several replicas: 2 logical CPUs in one process, and a 2-process multi-worker cluster."""

import json
import os
import socket

import numpy as np
import tensorflow as tf
import training_toys as toys
from run_scripts import finish, result_of, start_script

# Summing per-replica float32 gradients in another order changes the last bits only.
ATOL = 1e-5


def test_two_replicas_match_one_replica_on_the_same_global_batches():
    code, output = finish(start_script("two_replicas.py", {}))
    assert code == 0, output
    report = result_of(output)
    one, two = report["one_replica"], report["two_replicas"]
    assert report["replicas"] == 2

    # Same global batch -> same loss (mean over 32 examples) at each of the 3 steps.
    np.testing.assert_allclose(two["losses"], one["losses"], atol=ATOL)
    for key in ("after_step_1", "after_last_step"):
        for got, want in zip(two[key], one[key], strict=True):
            np.testing.assert_allclose(np.array(got), np.array(want), atol=ATOL, err_msg=key)
    moved = [
        np.abs(np.array(a) - np.array(b)).max()
        for a, b in zip(one["after_last_step"], one["after_step_1"], strict=True)
    ]
    assert max(moved) > 1e-3  # the steps after the first really changed the weights

    # Eval pads the last batch; with weights 0 on padding both setups count 100 examples.
    assert one["eval"]["examples"] == two["eval"]["examples"] == 100
    np.testing.assert_allclose(two["eval"]["loss"], one["eval"]["loss"], atol=ATOL)
    assert two["eval"]["top1"] == one["eval"]["top1"]

    # BatchNorm statistics are averaged over replicas, so both copies agree; XLA gives the same.
    bn = report["two_replicas_bn"]
    copies = np.array(bn["moving_mean_copies"])
    assert copies.shape[0] == 2 and np.abs(copies).max() > 0
    np.testing.assert_array_equal(copies[0], copies[1])
    np.testing.assert_allclose(report["two_replicas_bn_xla"]["losses"], bn["losses"], atol=ATOL)

    # Lookahead's slow weights (sync-on-read) move the same on both replicas as on one.
    one_la, two_la = report["one_replica_lookahead"], report["two_replicas_lookahead"]
    np.testing.assert_allclose(two_la["losses"], one_la["losses"], atol=ATOL)
    for got, want in zip(two_la["after_last_step"], one_la["after_last_step"], strict=True):
        np.testing.assert_allclose(np.array(got), np.array(want), atol=ATOL)
    pulled = [
        np.abs(np.array(a) - np.array(b)).max()
        for a, b in zip(two_la["after_last_step"], two["after_last_step"], strict=True)
    ]
    assert max(pulled) > 1e-3  # the lookahead changed the weights


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_cluster_on_localhost_trains_and_the_chief_checkpoint_loads(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    spec = {
        "config": {
            "model_dir": str(tmp_path),
            "epochs": None,
            "train_steps": 6,
            "global_batch_size": 32,
            "learning_rate": 0.05,
            "schedule": "constant",
            "steps_per_loop": 3,
            "checkpoint_every_steps": 3,
            "strategy": "multi_worker",
        },
        "eval": True,
        "save_final": True,
    }
    workers = [
        start_script(
            "toy_run.py",
            spec,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        for i in range(2)
    ]
    outcomes = [finish(w, timeout=180) for w in workers]
    for code, output in outcomes:
        assert code == 0, output
    chief, other = (result_of(output) for _, output in outcomes)
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["final_step"] == other["final_step"] == 6
    # Metrics are reduced over both workers, so both read the same numbers.
    assert chief["train_loss"] == other["train_loss"]
    assert chief["eval"] == other["eval"] and chief["eval"]["examples"] == 100
    assert chief["weights"] == other["weights"]  # the workers stayed in sync

    # Only the chief wrote into model_dir.
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("*.index")) == ["ckpt-3.index", "ckpt-6.index"]
    assert os.path.exists(tmp_path / "final.keras") and other["final_model"] is None
    model = toys.toy_model(batch_norm=True, seed=1)  # other initial values than the run's
    step = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=model, step=step).restore(str(checkpoints / "ckpt-6"))
    status.expect_partial().assert_existing_objects_matched()
    assert int(step.numpy()) == 6
    reloaded = tf.keras.models.load_model(str(tmp_path / "final.keras"))
    for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b)
