"""A run folder describes its run: export, restore and evaluate it without the training data.
Its layout table names every file a run leaves; a damaged record is kept aside on resume."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tiny_tfds
from run_scripts import REPO_ROOT, script_env

from deepnets.training import RunRecord, TrainConfig, restore_model, train
from deepnets.training.errors import RunFolderWarning
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.layout import CHECKPOINTS_FOLDER, RUN_FOLDER, entry_for


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
        log_gradient_norms=True,  # every file a run can leave, but budget.json
        keep_best="val_loss",  # (the export is the last state all the same)
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


def test_the_layout_table_names_every_file_a_finished_run_leaves(trained_run):
    run_dir, *_ = trained_run
    left = {path.name: path.is_dir() for path in run_dir.iterdir()}
    unnamed = [name for name in left if entry_for(name) is None]
    assert not unnamed, f"add {unnamed} to deepnets.training.run_folder.layout.RUN_FOLDER"
    assert all(entry_for(name).folder == is_folder for name, is_folder in left.items())
    kept = [path.name for path in (run_dir / "checkpoints").iterdir()]
    assert kept and all(entry_for(name, CHECKPOINTS_FOLDER) for name in kept), kept
    written = {entry_for(name).key for name in left}
    assert written == {entry.key for entry in RUN_FOLDER} - {
        "damaged_record",  # only after a damaged record
        "budget",  # only with a time budget
        "evaluation",  # only by deepnets-evaluate
        "old_record",  # only by deepnets 0.1
    }
    # RunFolder's path of each of them is the file the run wrote.
    folder = RunFolder(run_dir)
    for key in written:
        assert Path(getattr(folder, key)) == run_dir / next(
            e.name for e in RUN_FOLDER if e.key == key
        )


def test_the_docs_list_the_layout_table():
    page = (Path(REPO_ROOT) / "docs" / "run-folder.md").read_text()
    section = page.split("## Its files", 1)[1].split("###", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    # The first column's names, without a folder's "/" (and `evaluation/`'s sub-folders).
    listed = {name.split("/")[0] for row in rows for name in re.findall(r"`([^`]+)`", row)}
    assert listed == {entry.name for entry in RUN_FOLDER if entry.key != "old_record"}


def test_a_damaged_record_is_refused_by_export_and_kept_aside_when_the_run_resumes(tmp_path):
    data_dir = tmp_path / "tfds"
    cfg = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=tiny_tfds.prepare(str(data_dir)),
        data_dir=str(data_dir),
        download=False,
        model_dir=str(tmp_path / "run"),
        epochs=1,
        global_batch_size=16,
        steps_per_loop=3,
        export_saved_model=False,
    )
    first = train(cfg)
    record = tmp_path / "run" / "run.json"
    damaged = record.read_bytes()[:50]
    record.write_bytes(damaged)

    export = subprocess.run(
        [sys.executable, "-m", "trainers.export", f"--model_dir={tmp_path / 'run'}"]
        + [f"--output_dir={tmp_path / 'export'}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=script_env(),
    )
    assert export.returncode == 2 and "Traceback" not in export.stderr, export.stderr[-3000:]
    lines = [line for line in export.stderr.splitlines() if line.startswith("deepnets-export:")]
    assert len(lines) == 1, export.stderr[-3000:]
    assert f"--model_dir: {record} is not a run record this deepnets can read" in lines[0]

    with pytest.warns(RunFolderWarning) as caught:
        again = train(dataclasses.replace(cfg, epochs=2))
    messages = [str(w.message) for w in caught if issubclass(w.category, RunFolderWarning)]
    assert len(messages) == 1  # the new record, read again by run_loop, is left alone
    aside = sorted(record.parent.glob("run.json.corrupt-*"))
    assert len(aside) == 1 and re.fullmatch(r"run\.json\.corrupt-\d{8}T\d{6}Z", aside[0].name)
    assert aside[0].read_bytes() == damaged
    assert messages[0].startswith(f"{record} is not a run record this deepnets can read: ")
    assert messages[0].endswith(f"; kept it as {aside[0]}, and this run writes a new record.")
    assert RunRecord.read(str(record.parent)).config.epochs == 2
    assert again.resumed_from == first.checkpoint_path
    assert again.final_step == 2 * first.final_step
