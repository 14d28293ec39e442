"""A run folder describes its run: export, restore and evaluate it without the training data."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tiny_tfds
from run_scripts import REPO_ROOT, script_env

from deepnets.training import RunRecord, TrainConfig, restore_model, train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """Two epochs on a tfds dataset prepared in a temporary data_dir, which is then deleted."""
    data_dir = tmp_path_factory.mktemp("tfds")
    name = tiny_tfds.prepare(str(data_dir))
    run_dir = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=name,
        data_dir=str(data_dir),
        download=False,
        model_dir=str(run_dir),
        epochs=2,
        global_batch_size=16,
        steps_per_loop=3,
        export_saved_model=False,
    )
    result = train(cfg)
    images = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")  # normalized
    logits = tf.keras.models.load_model(result.final_model_path)(images, training=False).numpy()
    shutil.rmtree(data_dir)
    return run_dir, result, images, logits


def test_run_record_holds_what_the_model_needs(trained_run):
    run_dir, result, _, _ = trained_run
    with open(run_dir / "run.json") as f:
        raw = json.load(f)
    assert raw["input_shape"] == [16, 16, 3]
    assert raw["dataset"]["class_names"] == list(tiny_tfds.CLASS_NAMES)
    assert raw["dataset"]["train_examples"] == 96 and raw["dataset"]["eval_examples"] == 24
    assert raw["dataset"]["preprocessing"]["crop"] == "none"
    assert raw["dataset"]["preprocessing"]["train_augmentation"] == "pad_crop_flip"
    assert set(raw["versions"]) == {"deepnets", "tensorflow", "keras", "python"}
    assert raw["model"] == {
        "name": "resnet18",
        "arguments": {
            "stem": "cifar",
            "width": 4,
            "num_classes": 3,
            "input_shape": [16, 16, 3],
            "classifier_activation": None,
        },
    }
    record = RunRecord.read(str(run_dir))
    assert record.class_names == tiny_tfds.CLASS_NAMES and record.config.epochs == 2
    # The recorded preprocessing is a working one: a 16x16 uint8 image becomes a model input.
    image = tf.constant(np.full((16, 16, 3), 128, np.uint8))
    assert record.preprocessing(image).shape == (16, 16, 3)


def test_restore_model_needs_no_data(trained_run):
    run_dir, result, images, logits = trained_run
    model, record, checkpoint = restore_model(str(run_dir))
    assert checkpoint == result.checkpoint_path and record.dataset.num_classes == 3
    np.testing.assert_allclose(model(images, training=False).numpy(), logits, atol=1e-5)


def test_export_in_a_fresh_process_without_the_data_serves_the_same_outputs(trained_run, tmp_path):
    run_dir, _, images, logits = trained_run
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainers.export",
            f"--model_dir={run_dir}",
            f"--output_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=script_env(),
    )
    assert export.returncode == 0, export.stderr[-3000:]
    np.save(tmp_path / "images.npy", images)
    check = (
        "import numpy as np, tensorflow as tf\n"
        f"x = np.load({str(tmp_path / 'images.npy')!r})\n"
        f"exported = tf.saved_model.load({str(tmp_path / 'saved_model')!r})\n"
        "served = exported.serve(x).numpy()\n"
        f"np.save({str(tmp_path / 'served.npy')!r}, served)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=300, env=script_env()
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "served.npy"), logits, rtol=1e-5, atol=1e-5)


def test_a_folder_without_a_run_record_is_refused_clearly(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"run\.json does not exist.*deepnets 0\.1"):
        restore_model(str(tmp_path))
