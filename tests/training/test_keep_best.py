"""`keep_best`: the best evaluated checkpoint survives a crash in its own write, a stop and a
resume; `export` puts the best or the last state into final.keras."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tiny_tfds
import training_toys as toys

from deepnets.training import LoopSettings, TrainConfig, restore_model, run_loop, train
from deepnets.training.run import api
from deepnets.training.run_folder.best_checkpoint import best_checkpoint
from deepnets.training.runtime import faults

STEPS_PER_EPOCH = 8  # 256 toy examples in batches of 32
# The evaluated top-1 by step (evaluations every 4 steps): the best at 16, later ones worse.
TOP1 = {4: 0.2, 8: 0.5, 12: 0.4, 16: 0.7, 20: 0.6, 24: 0.65}


def scripted(runner, values, key):
    """The runner's evaluations report `values[step]` as `key` (the rest as evaluated)."""
    real = runner.evaluate

    def evaluate():
        metrics = dict(real())
        metrics[key] = values[int(runner.optimizer.iterations.numpy())]
        return metrics

    runner.evaluate = evaluate
    return runner


def step_of(prefix):
    return int(tf.train.load_checkpoint(prefix).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """24 steps with keep_best=val_top1, killed (a failure, in-process) while the best of step
    16 replaces that of 8, then resumed to the end."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    settings = LoopSettings(
        total_steps=24, steps_per_epoch=STEPS_PER_EPOCH, steps_per_loop=4, eval_every_steps=4
    )

    def launch(**options):
        runner = scripted(toys.toy_runner(), TOP1, "top1")
        return run_loop(
            runner,
            settings,
            model_dir=model_dir,
            keep_checkpoints=1,
            keep_best="val_top1",
            progress=False,
            **options,
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(faults.ENVIRONMENT_VARIABLE, "best.swapping@2=fail")  # 8 -> 16
        patch.setattr(faults, "_passages", faults.collections.Counter())
        with pytest.raises(RuntimeError):
            launch()
        crashed = json.loads(open(f"{model_dir}/stopping.json").read())
        crashed_best = best_checkpoint(model_dir)
    return model_dir, crashed, crashed_best, launch()


def test_the_best_survives_a_crash_in_its_write_and_a_resume(resumed_run):
    model_dir, crashed, crashed_best, result = resumed_run
    # The crash came after the evaluation of 16 was recorded and checkpointed, with the old
    # best (8) moved aside and the new one not in place; the resume made 16 the best.
    assert crashed["best_step"] == 16 and crashed_best is None
    assert result.final_step == 24 and result.resumed_from.endswith("ckpt-16")
    assert (result.best_step, result.best_value) == (16, pytest.approx(0.7))
    assert result.best_checkpoint_path == best_checkpoint(model_dir)
    assert step_of(result.best_checkpoint_path) == 16
    # The newest checkpoint alone is kept beside it (keep_checkpoints=1).
    assert result.checkpoint_path.endswith("ckpt-24")
    state = json.loads(open(f"{model_dir}/stopping.json").read())
    assert state["evaluations"] == [[s, pytest.approx(v)] for s, v in TOP1.items()]
    assert (state["best_step"], state["evaluations_waited"], state["mode"]) == (16, 2, "max")


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    """Three epochs of the tiny tfds data with export=best, the evaluated loss best after the
    second."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    name = tiny_tfds.prepare(data_dir)
    cfg = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=name,
        data_dir=data_dir,
        download=False,
        model_dir=str(tmp_path_factory.mktemp("run")),
        epochs=3,
        global_batch_size=32,  # 3 steps an epoch
        export_saved_model=False,
        keep_best="val_loss",
        export="best",
    )
    make_runner = api.make_runner
    with pytest.MonkeyPatch.context() as patch:
        losses = {3: 0.9, 6: 0.4, 9: 0.8}
        patch.setattr(api, "make_runner", lambda *a: scripted(make_runner(*a), losses, "loss"))
        return cfg.model_dir, train(cfg)


def test_export_best_puts_the_best_state_into_final_keras(exported_run):
    # (export=last, the default, is the last state: test_run_folder's run keeps a best too.)
    model_dir, result = exported_run
    assert (result.best_step, result.final_step) == (6, 9)
    images = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    exported = tf.keras.models.load_model(result.final_model_path)(images).numpy()
    # deepnets-export and -evaluate on the folder read the best checkpoint too.
    best, _, path = restore_model(model_dir)
    assert path == result.best_checkpoint_path
    np.testing.assert_allclose(best(images).numpy(), exported, atol=1e-6)
    last, _, _ = restore_model(model_dir, result.checkpoint_path)
    assert np.abs(last(images).numpy() - exported).max() > 1e-4
