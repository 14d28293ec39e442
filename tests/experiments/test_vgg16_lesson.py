"""The VGG16 lesson trains the tutorial's VGG16 under two variants on a small generated folder
and measures what it says: the spread at initialization, the losses, dead units, top-1."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from tests.experiments.run_module import run_experiment

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_glorot_shrinks_the_logits_he_keeps_them_and_every_measure_is_written(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 32), ("test", 8)):
        for name in ("ant", "bee"):
            (tmp_path / "images" / split / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                path = tmp_path / "images" / split / name / f"{i}.png"
                path.write_bytes(tf.io.encode_png(image).numpy())
    out = tmp_path / "out"
    folder = f"--folder={tmp_path / 'images'}"
    result = run_experiment(
        "experiments.vgg16_lesson",
        folder,
        f"--output_dir={out}",
        "--variants=tutorial,he_sgd",
        "--steps=25",
        "--batch_size=4",  # the lesson's batch is 32; its measures do not depend on it
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"tutorial", "he_sgd"}
    glorot, he = results["tutorial"]["spread_at_init"], results["he_sgd"]["spread_at_init"]
    # Glorot uniform halves the spread at every ReLU layer: 15 of them leave the logits tiny;
    # He normal keeps the spread of the first block to the end.
    assert glorot["logits"] < 1e-3 < 0.05 < he["logits"]
    assert glorot["block5_pool"] < glorot["block1_pool"] / 10
    assert he["block5_pool"] > he["block1_pool"] / 10
    for r in results.values():
        assert r["steps"] == 25 and r["batch_size"] == 4 and len(r["loss_every_25_steps"]) == 1
        assert set(r["dead_after_training"]) == {"block5_conv3", "fc1", "fc2"}
        assert all(0 <= share <= 1 for share in r["dead_after_training"].values())
        assert 0 <= r["held_out_top1"] <= 1
    assert (out / "vgg16_lesson.png").stat().st_size > 10_000
    assert "tutorial" in result.stdout and "he_sgd" in result.stdout
    bad = run_experiment(
        "experiments.vgg16_lesson", folder, f"--output_dir={out}", "--variants=tutorial,lion"
    )
    assert bad.returncode != 0 and "--variants" in bad.stderr and "lion" in bad.stderr
    bad = run_experiment(
        "experiments.vgg16_lesson", folder, f"--output_dir={out}", "--batch_size=0"
    )
    assert bad.returncode != 0 and "--batch_size=0" in bad.stderr
