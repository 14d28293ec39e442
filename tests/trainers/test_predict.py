"""deepnets-predict: your photos in, top-k class names out, exactly as evaluation sees them."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from one_process import run_binaries

from deepnets.data.folders import ImageFolder
from deepnets.training import TrainConfig, plan_run, train

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
COLORS = {"blue": 2, "green": 1, "red": 0}
SIZES = [(20, 24), (32, 32), (40, 30)]  # photos come in any size


def run(module, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def photo(channel, seed, size):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 140, (*size, 3))
    image[..., channel] += 100
    return tf.io.encode_jpeg(image.astype(np.uint8), quality=95).numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for name, channel in COLORS.items():
        (root / name).mkdir()
        for i in range(30):
            (root / name / f"{i:03d}.jpg").write_bytes(
                photo(channel, 100 * channel + i, SIZES[i % 3])
            )
    run_dir = tmp_path_factory.mktemp("run")
    # Trained in this process: what these tests run through the binaries is evaluation,
    # export and prediction (tests/trainers/test_cli.py runs deepnets-train itself).
    cfg = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=str(root),
        image_size=24,
        epochs=None,
        train_steps=10,
        steps_per_loop=5,
        global_batch_size=16,
        learning_rate=0.05,
        model_dir=str(run_dir),
        export_saved_model=False,  # predict and export read the checkpoint
    )
    assert train(plan_run(cfg)).final_step == 10
    return root, run_dir


def test_top1_over_the_held_out_images_equals_what_evaluate_counts(trained):
    root, run_dir = trained
    evaluate = run("trainers.evaluate", f"--model_dir={run_dir}")
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    metrics = json.loads(evaluate.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    held_out = ImageFolder(str(root), 0.1).files("validation")
    assert metrics["examples"] == len(held_out.paths) == 9  # 3 of each 30
    predict = run(
        "trainers.predict",
        f"--model_dir={run_dir}",
        "--output_format=csv",
        "--top_k=1",
        *held_out.paths,
    )
    assert predict.returncode == 0, predict.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO(predict.stdout)))
    assert len(rows) == 9
    truth = {path: Path(path).parent.name for path in held_out.paths}
    correct = sum(row["class"] == truth[row["image"]] for row in rows)
    assert correct == round(metrics["top1"] * metrics["examples"])


def test_bad_inputs_get_one_line_each_and_the_others_are_still_classified(trained, tmp_path):
    root, run_dir = trained
    (tmp_path / "notes.jpg").write_text("not a picture")
    good = sorted(str(p) for p in (root / "red").glob("*.jpg"))[:2]
    predict = run(
        "trainers.predict",
        f"--model_dir={run_dir}",
        "--output_format=json",
        "--top_k=2",
        good[0],
        str(tmp_path / "notes.jpg"),
        str(tmp_path / "missing.png"),
        good[1],
    )
    assert predict.returncode == 1 and "Traceback" not in predict.stderr
    problems = [
        line for line in predict.stderr.splitlines() if line.startswith("deepnets-predict:")
    ]
    assert len(problems) == 2, predict.stderr[-2000:]
    assert "notes.jpg: Unknown image file format" in problems[0]
    assert "missing.png: no such file or folder" in problems[1]
    results = json.loads(predict.stdout)
    assert [r["image"] for r in results] == good
    for result in results:
        probabilities = [p["probability"] for p in result["predictions"]]
        assert len(probabilities) == 2 and probabilities[0] >= probabilities[1]
        assert {p["class"] for p in result["predictions"]} <= set(COLORS)


def test_an_exported_model_predicts_like_its_run_and_a_plain_model_is_refused(trained, tmp_path):
    root, run_dir = trained
    folder = str(root / "green")
    # Two processes, not five: deepnets-export's required --output_dir holds for the runs
    # after it in its process.
    by_run, table, plain, export = run_binaries(
        ("trainers.predict", [f"--model_dir={run_dir}", "--output_format=csv", folder]),
        ("trainers.predict", [f"--model_dir={run_dir}", "--top_k=1", folder]),
        ("trainers.predict", [f"--model_path={run_dir / 'final.keras'}", folder]),
        ("trainers.export", [f"--model_dir={run_dir}", f"--output_dir={tmp_path}"]),
    )
    assert export.returncode == 0, export.stderr[-3000:]
    (by_export,) = run_binaries(
        (
            "trainers.predict",
            [f"--model_path={tmp_path / 'model.keras'}", "--output_format=csv", folder],
        )
    )
    assert by_run.returncode == by_export.returncode == 0, by_export.stderr[-2000:]
    assert by_run.stdout == by_export.stdout and len(by_run.stdout.splitlines()) == 1 + 30 * 3
    assert table.stdout.splitlines()[0].split() == ["image", "top-1"]
    assert plain.returncode == 2 and "without its preprocessing and class names" in plain.stderr
