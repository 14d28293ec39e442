"""A run folder describes its run: export, restore and evaluate it without the training data."""

import json
import os
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
    model = tf.keras.models.load_model(result.final_model_path)
    logits = model(images, training=False).numpy()
    # What a client of the export sends: pixels as they come, of another size than the model's.
    pixels = np.random.default_rng(1).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    preprocessing = RunRecord.read(str(run_dir)).preprocessing
    probabilities = tf.nn.softmax(model(preprocessing(pixels), training=False)).numpy()
    shutil.rmtree(data_dir)
    return run_dir, result, images, logits, pixels, probabilities


def test_run_record_holds_what_the_model_needs(trained_run):
    run_dir, result, *_ = trained_run
    with open(run_dir / "run.json") as f:
        raw = json.load(f)
    assert raw["input_shape"] == [16, 16, 3]
    assert raw["dataset"]["class_names"] == list(tiny_tfds.CLASS_NAMES)
    assert raw["dataset"]["train_examples"] == 96 and raw["dataset"]["eval_examples"] == 24
    assert raw["dataset"]["preprocessing"]["crop"] == "none"
    assert raw["dataset"]["preprocessing"]["train_augmentation"] == "pad_crop_flip"
    assert set(raw["versions"]) == {"deepnets", "tensorflow", "keras", "python"}
    assert raw["machine"]["cpus"] == len(os.sched_getaffinity(0)) and raw["machine"]["gpus"] == 0
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") in ("0", "1"):  # conftest sets 1 unless told
        assert raw["machine"]["onednn"] is (os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1")
    older = {key: value for key, value in raw.items() if key != "machine"}
    assert RunRecord.from_dict(older).machine == {}  # records written before it still read
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
    run_dir, result, images, logits, *_ = trained_run
    model, record, checkpoint = restore_model(str(run_dir))
    assert checkpoint == result.checkpoint_path and record.dataset.num_classes == 3
    np.testing.assert_allclose(model(images, training=False).numpy(), logits, atol=1e-5)


def test_export_in_a_fresh_process_without_the_data_serves_the_same_outputs(trained_run, tmp_path):
    run_dir, _, _, _, pixels, probabilities = trained_run
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
    np.save(tmp_path / "pixels.npy", pixels)
    for i, image in enumerate(pixels):
        tf.io.write_file(str(tmp_path / f"{i}.png"), tf.io.encode_png(image))
    # TensorFlow alone (no deepnets import) serves pixels and image files, with class names.
    check = (
        "import json, numpy as np, tensorflow as tf\n"
        f"folder = {str(tmp_path)!r}\n"
        "exported = tf.saved_model.load(folder + '/saved_model')\n"
        "by_pixels = exported.serve_images(np.load(folder + '/pixels.npy'))\n"
        "files = [tf.io.read_file(f'{folder}/{i}.png') for i in range(3)]\n"
        "by_files = exported.serve_bytes(tf.stack(files))\n"
        "np.save(folder + '/served.npy', by_pixels['probabilities'].numpy())\n"
        "np.save(folder + '/served_files.npy', by_files['probabilities'].numpy())\n"
        "names = exported.class_names()['class_names'].numpy().tolist()\n"
        "top = by_pixels['class_name'].numpy().tolist()\n"
        "words = [n.decode() for n in names] + ['|'] + [t.decode() for t in top]\n"
        "print('NAMES=' + json.dumps(words))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=300, env=script_env()
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "deepnets" not in loaded.stderr
    np.testing.assert_allclose(np.load(tmp_path / "served.npy"), probabilities, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "served_files.npy"), probabilities, atol=1e-5)
    line = next(x for x in loaded.stdout.splitlines() if x.startswith("NAMES="))
    names = json.loads(line[len("NAMES=") :])
    split = names.index("|")
    assert tuple(names[:split]) == tiny_tfds.CLASS_NAMES
    expected_top = [tiny_tfds.CLASS_NAMES[i] for i in probabilities.argmax(1)]
    assert names[split + 1 :] == expected_top
    # The .keras export is an ImagePredictor that keeps the preprocessing and class names.
    predictor = tf.keras.models.load_model(tmp_path / "model.keras")
    assert predictor.class_names == tiny_tfds.CLASS_NAMES
    np.testing.assert_allclose(predictor(pixels).numpy(), probabilities, atol=1e-5)


def test_a_folder_without_a_run_record_is_refused_clearly(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"run\.json does not exist.*deepnets 0\.1"):
        restore_model(str(tmp_path))
