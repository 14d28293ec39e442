"""The time-to-accuracy tool trains a flagfile recipe and the tutorial's recipe on a small
generated folder, and writes its table, results.json and picture; the tutorial stops at its
time budget even inside an epoch."""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepnets.training.runtime.machine import cpu_model
from tests.experiments.run_module import run_experiment

REPO_ROOT = Path(__file__).resolve().parents[2]


def split_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", 32), ("test", 4)):
        for name in ("ant", "bee"):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                data = tf.io.encode_jpeg(image).numpy()
                (root / split / name / f"{i}.jpg").write_bytes(data)
    return root


def test_tool_trains_both_recipes_and_reports(tmp_path):
    folder = split_folder(tmp_path / "images")
    flagfile = tmp_path / "tiny.cfg"
    flagfile.write_text("--model=vgg_fast_half\n--epochs=2\n--global_batch_size=16\n")
    out = tmp_path / "tta"
    # A recipe measured earlier into the same folder stays in the results and the picture.
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"earlier": [[3.0, 0.5, 10]]}))
    result = run_experiment(
        "experiments.time_to_accuracy",
        f"--folder={folder}",
        f"--output_dir={out}",
        f"--recipes=tiny={flagfile},tutorial_vgg16",
        "--tutorial_minutes=0.001",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"earlier", "tiny", "tutorial_vgg16"}
    assert results["earlier"] == [[3.0, 0.5, 10]]
    assert "Kept the results of earlier" in result.stdout
    # Two epochs of 64 images at batch 16: evaluations at the end of each epoch (steps 4, 8).
    assert [step for _, _, step in results["tiny"]] == [4, 8]
    # The tutorial's epoch is 64 // 32 = 2 batches; its budget ended it after the first.
    assert [step for _, _, step in results["tutorial_vgg16"]] == [1]
    for points in (results["tiny"], results["tutorial_vgg16"]):
        minutes = [m for m, _, _ in points]
        assert minutes == sorted(minutes) and minutes[0] > 0
        assert all(0.0 <= top1 <= 1.0 for _, top1, _ in points)
    assert (out / "time_to_accuracy.png").stat().st_size > 10_000
    assert "tiny" in result.stdout and "tutorial_vgg16" in result.stdout
    # The machine of each recipe measured here; the kept one's is not known.
    machines = json.loads((out / "machines.json").read_text())
    assert set(machines) == {"tiny", "tutorial_vgg16"}
    assert machines["tiny"] == machines["tutorial_vgg16"]
    assert machines["tiny"].startswith(cpu_model() + ", ") and "oneDNN" in machines["tiny"]
    assert f"Machine: {machines['tiny']}" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1].isalpha()}
    assert rows["tiny"].endswith(machines["tiny"]) and rows["earlier"].endswith("not recorded")
    assert rows["tiny"].split()[2] == "8"  # the steps column

    # With no recipe, it draws the picture and the table again from results.json alone.
    (out / "time_to_accuracy.png").unlink()
    redraw = run_experiment(
        "experiments.time_to_accuracy",
        f"--folder={folder}",
        f"--output_dir={out}",
        "--recipes=",
        "--target_top1=60",
        timeout=300,
    )
    assert redraw.returncode == 0, redraw.stderr[-3000:]
    assert json.loads((out / "results.json").read_text()) == results
    assert (out / "time_to_accuracy.png").stat().st_size > 10_000
    assert {"earlier", "tiny", "tutorial_vgg16"} <= set(redraw.stdout.split())


def test_tool_names_a_bad_recipe_and_a_folder_without_images(tmp_path):
    def run(recipes):
        return run_experiment(
            "experiments.time_to_accuracy",
            f"--folder={tmp_path}",
            f"--output_dir={tmp_path / 'out'}",
            f"--recipes={recipes}",
            timeout=300,
        )

    result = run("fast=missing.cfg")
    assert result.returncode != 0
    assert "--recipes" in result.stderr and "missing.cfg" in result.stderr
    result = run("tutorial_alexnet")
    assert result.returncode != 0
    assert "tutorial_vgg16" in result.stderr and "tutorial_alexnet" in result.stderr
    result = run("tutorial")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--folder: " in result.stderr and str(tmp_path) in result.stderr
