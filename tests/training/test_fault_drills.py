"""Fault drills on the real binary: SIGKILL at many named moments, a full disk, a second launch.

A tiny FastVGG (a stem and two blocks, all 8 filters wide) trains 12 steps of shapes10 in
deterministic mode. The drill kills it with SIGKILL at one named moment after another (fault
points, see `deepnets.training.runtime.faults`), resuming each time, and checks that the end result
is the uninterrupted run's to the bit. Every launch is a fresh process (a SIGKILL ends it), so the
model is as small as the run folder allows: five convolutions trace, train and export in a
fraction of a ResNet-18's time. It has no strided 1x1 convolution, whose weight gradient
TensorFlow's oneDNN kernels (forced on on an AVX2-only CPU) get wrong with 3-4 input channels
(docs/performance.md).
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from run_scripts import REPO_ROOT, script_env

from deepnets.training.reports.reporting import read_metrics_csv

TOTAL = 12
FLAGS = [
    "--model=vgg_fast",
    "--model_overrides=widths=(8,8),stem_width=8",
    "--dataset=shapes10",
    f"--train_steps={TOTAL}",
    "--global_batch_size=32",
    "--eval_batch_size=500",
    "--steps_per_loop=3",
    "--checkpoint_every_steps=3",
    "--keep_checkpoints=2",
    "--deterministic",
    "--seed=1",
]
# The tests of a full disk and of the lock are not about the SavedModel, whose export is a good
# part of a short run's time; the drill of the kill points writes it.
NO_SAVED_MODEL = ("--export_saved_model=false",)
# Where each launch of the drill dies, in order: before the run record is in place; while a
# loop's row is appended; with a checkpoint's files written but not listed; listed but older
# ones not yet deleted; with the curves picture drawn but not in place; with final.keras and the
# SavedModel written but not in place.
KILL_POINTS = [
    "run.json.written@1",
    "metrics.csv.append@2",
    "checkpoint.written@1",
    "checkpoint.recorded@1",
    "curves.png.written@1",
    "final.keras.written@1",
    "saved_model.written@1",
]


def launch(model_dir, faults=None, extra=(), wait=True):
    env = script_env(**({"DEEPNETS_FAULTS": faults} if faults else {}))
    command = [sys.executable, "-m", "trainers.train", *FLAGS, f"--model_dir={model_dir}", *extra]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if not wait:
        return process
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def weights_digest(path):
    model = tf.keras.models.load_model(path)
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def assert_complete_and_loadable(model_dir):
    model_dir = Path(model_dir)
    record = json.loads((model_dir / "run.json").read_text())
    assert record["config"]["train_steps"] == TOTAL
    rows = read_metrics_csv(str(model_dir / "metrics.csv"))
    keys = [(int(r["step"]), r["split"]) for r in rows]
    assert not [k for k, n in Counter(keys).items() if n > 1], keys
    assert [s for s, split in keys if split == "train"] == [3, 6, 9, 12]
    assert (12, "eval") in keys
    assert tf.io.decode_png(tf.io.read_file(str(model_dir / "curves.png"))).shape[-1] in (3, 4)
    exported = tf.saved_model.load(str(model_dir / "saved_model"))
    served = exported.serve_images(np.zeros((1, 32, 32, 3), np.uint8))
    assert served["probabilities"].shape == (1, 10)
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / f"ckpt-{TOTAL}"))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == TOTAL
    leftovers = [p.name for p in model_dir.rglob("*") if ".tmp" in p.name or "partial-" in p.name]
    assert not leftovers and not list(model_dir.glob("*previous-*"))
    assert (model_dir / "run.lock").read_text() == ""  # released


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("reference")
    code, out, err = launch(model_dir)
    assert code == 0, err[-3000:]
    return model_dir, weights_digest(model_dir / "final.keras")


def test_killed_at_every_named_moment_the_run_still_ends_bit_identical(reference, tmp_path):
    reference_dir, reference_weights = reference
    for point in KILL_POINTS:
        code, out, err = launch(tmp_path, faults=f"{point}=kill")
        assert code == -signal.SIGKILL, f"{point}: exit {code}\n{err[-2000:]}"
    # A rerun of the finished run is killed while swapping its SavedModel folder: the old one
    # is aside, the new one not yet in place.
    code, out, err = launch(tmp_path)
    assert code == 0 and f"Final step {TOTAL}" in out, err[-3000:]
    code, out, err = launch(tmp_path, faults="saved_model.swapping@1=kill")
    assert code == -signal.SIGKILL and not (tmp_path / "saved_model").exists()
    code, out, err = launch(tmp_path)
    assert code == 0, err[-3000:]
    assert "Resumed from" in out and f"Final step {TOTAL}" in out
    assert_complete_and_loadable(tmp_path)
    assert weights_digest(tmp_path / "final.keras") == reference_weights
    assert losses(tmp_path) == losses(reference_dir)  # every loop's loss, to the last digit


def losses(model_dir):
    rows = read_metrics_csv(str(Path(model_dir) / "metrics.csv"))
    return [(r["step"], r["split"], r["data_loss"], r["top1"]) for r in rows]


def test_full_disk_stops_with_one_line_and_the_rerun_resumes(reference, tmp_path):
    _, reference_weights = reference
    code, out, err = launch(tmp_path, faults="checkpoint.write@2=enospc", extra=NO_SAVED_MODEL)
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("deepnets-train: error:")]
    assert len(lines) == 1, err[-3000:]
    assert f"cannot write {tmp_path}/checkpoints/ckpt-6: No space left on device" in lines[0]
    assert f"the newest checkpoint {tmp_path}/checkpoints/ckpt-3 is intact" in lines[0]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-3.index"
    ]
    code, out, err = launch(tmp_path, faults="final.keras.written@1=enospc", extra=NO_SAVED_MODEL)
    assert code == 1 and f"cannot write {tmp_path}/final.keras: No space left" in err
    assert not (tmp_path / "final.keras").exists()
    code, out, err = launch(tmp_path, extra=NO_SAVED_MODEL)
    assert code == 0, err[-3000:]
    assert weights_digest(tmp_path / "final.keras") == reference_weights


def test_a_second_launch_on_a_folder_in_use_exits_at_once_naming_the_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from deepnets.training.run_folder.lock import RunLock; "
            f"RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(120)",
        ],
        env=script_env(),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    code, out, err = launch(tmp_path, extra=NO_SAVED_MODEL)
    assert code == 1 and time.monotonic() - started < 60
    lines = [line for line in err.splitlines() if line.startswith("deepnets-train:")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert f"is in use by another run (pid {holder.pid} on" in lines[0]
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.csv").exists()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    code, out, err = launch(tmp_path, extra=NO_SAVED_MODEL)
    assert code == 0, err[-3000:]
    assert f"deepnets-train: warning: {tmp_path}: took over the lock of pid {holder.pid}" in err
    assert "no longer running" in err
    assert os.path.getsize(tmp_path / "run.lock") == 0
