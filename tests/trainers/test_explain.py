"""deepnets-explain: image files in, each with its Grad-CAM heat map and top classes out."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from deepnets.data import SHAPES10_CLASS_NAMES, Preprocessing, generate_shapes10
from deepnets.data.offline import SHAPES10_MEAN, SHAPES10_STD
from deepnets.models import ImagePredictor
from tests.model_cases import small_model

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def explain(*args):
    return subprocess.run(
        [sys.executable, "-m", "trainers.explain", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An exported-style model.keras (an untrained tiny vgg_fast with its preprocessing and
    class names) and three PNG files, one of another size than the model's input."""
    root = tmp_path_factory.mktemp("explain")
    model = small_model("vgg_fast", num_classes=10)
    preprocessing = Preprocessing((32, 32), SHAPES10_MEAN, SHAPES10_STD)
    path = str(root / "model.keras")
    ImagePredictor(model, preprocessing, SHAPES10_CLASS_NAMES).save(path)
    images, _ = generate_shapes10(3, seed=0)
    files = []
    for i, image in enumerate(images):
        if i == 2:
            image = tf.image.resize(image, (40, 48)).numpy().astype(np.uint8)
        files.append(str(root / f"shape{i}.png"))
        tf.io.write_file(files[-1], tf.io.encode_png(image))
    return path, files


def test_each_image_and_a_grid_are_written(exported, tmp_path):
    model_path, files = exported
    result = explain(f"--model_path={model_path}", f"--output_dir={tmp_path}", *files)
    assert result.returncode == 0, result.stderr[-3000:]
    names = ["shape0.png", "shape1.png", "shape2.png", "grid.png"]
    assert result.stdout.split()[-4:] == [str(tmp_path / name) for name in names]
    one = tf.io.decode_png(tf.io.read_file(str(tmp_path / "shape0.png"))).shape
    grid = tf.io.decode_png(tf.io.read_file(str(tmp_path / "grid.png"))).shape
    assert grid[0] > one[0] and grid[1] > one[1]  # two rows of two


def test_a_stage_the_model_lacks_is_named_with_those_it_has(exported, tmp_path):
    model_path, files = exported
    result = explain(f"--model_path={model_path}", f"--output_dir={tmp_path}", "--stage=C5", *files)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "deepnets-explain: error: --stage='C5' is invalid: expected one of 'C1', 'C2', 'C3'" in (
        result.stderr
    )
    assert not os.listdir(tmp_path)
