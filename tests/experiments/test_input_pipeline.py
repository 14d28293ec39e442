"""The input-pipeline benchmark runs on a small generated folder and prints its figures (no
assertion on any timing)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

REPO_ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+(?:\.\d+)?"


def run_benchmark(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "experiments.input_pipeline", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def small_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("ant", "bee", "cow"):
        (root / name).mkdir(parents=True)
        for i in range(12):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            (root / name / f"{i}.jpg").write_bytes(tf.io.encode_jpeg(image).numpy())
    (root / "bee" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def test_smoke_run_prints_pipeline_and_training_rates_and_their_ratio(tmp_path):
    folder = small_folder(tmp_path / "pets")
    result = run_benchmark(
        f"--folder={folder}", "--batch_size=8", "--train_steps=1", "--repetitions=1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Image folder {folder}: 33 training images in 3 classes, 32x32" in out
    assert "decode pass over 37 files" in out
    epoch1 = re.search(rf"epoch 1, decoding: ({NUMBER}) images/s \(4 batches", out)
    epoch2 = re.search(rf"epoch 2, cached: ({NUMBER}) images/s \(4 batches", out)
    training = re.search(rf"resnet18 \(stem=cifar, width=16\) .*: ({NUMBER}) images/s", out)
    ratio = re.search(rf"epoch 1 ({NUMBER})x, cached ({NUMBER})x \(required: >= 10x\)", out)
    assert epoch1 and epoch2 and training and ratio, out
    assert float(epoch1[1]) > 0 and float(training[1]) > 0
    expected = float(epoch1[1]) / float(training[1])
    assert abs(float(ratio[1]) - expected) <= 0.05 * expected + 0.1
    assert "1 image file(s) that do not decode" in result.stderr  # the one-line warning


def test_missing_folder_is_a_usage_error_naming_it(tmp_path):
    result = run_benchmark(f"--folder={tmp_path / 'nowhere'}", timeout=120)
    assert result.returncode == 2
    assert "--folder" in result.stderr and str(tmp_path / "nowhere") in result.stderr
    assert run_benchmark(timeout=60).returncode == 2  # no --folder at all
