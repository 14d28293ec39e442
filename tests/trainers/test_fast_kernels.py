"""deepnets-train turns oneDNN on where TensorFlow leaves it off, and keeps it off when the
model has a convolution the kernel check finds wrong on this CPU."""

import json
import os
import subprocess
import sys

import deepnets
from deepnets.cpu_kernels import FAKE_FLAGS_VARIABLE, ONEDNN_VARIABLE
from deepnets.training.runtime.kernel_check import Case, convolution_cases
from deepnets.training.runtime.kernel_verdicts import CACHE_VARIABLE, cache_path

AVX2 = "fpu sse2 avx avx2 fma"  # an AVX2-only CPU: TensorFlow would leave oneDNN off
WRONG = Case(1, 2, 4, 8, 32)  # as on the AVX2 EPYC: the stage-2 shortcut of this ResNet
KEPT_OFF = f"kept off: the kernel check found the convolution {WRONG} wrong on this CPU"


def test_a_model_with_a_wrong_kernel_shape_trains_with_onednn_off(tmp_path, monkeypatch):
    # The check's verdict, as if it had run on this machine: one shape of the model is wrong.
    monkeypatch.setenv(FAKE_FLAGS_VARIABLE, AVX2)
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    model = deepnets.build_model(
        "resnet18", num_classes=10, stem="cifar", width=4, input_shape=(32, 32, 3)
    )
    verdicts = {str(c): "WRONG" if c == WRONG else "ok" for c in convolution_cases(model)}
    os.makedirs(tmp_path / "cache")
    with open(cache_path(), "w") as f:
        json.dump({"verdicts": verdicts}, f)

    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}  # the user set nothing
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    run_dir = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, "-m", "trainers.train", "--model=resnet18"]
        + ["--model_overrides=stem=cifar,width=4", "--dataset=shapes10", "--train_steps=2"]
        + ["--steps_per_loop=2", "--global_batch_size=16", "--eval_batch_size=500"]
        + ["--noexport_saved_model"]  # not what this test is about: seconds of tracing
        + [f"--model_dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    said = [line for line in train.stderr.splitlines() if line.startswith("deepnets-train:")]
    assert said == [
        f"deepnets-train: oneDNN {KEPT_OFF}; restarting with TF_ENABLE_ONEDNN_OPTS=0 "
        "(TF_ENABLE_ONEDNN_OPTS=1 forces it on)."
    ]
    assert train.stdout.splitlines()[0] == f"Kernels: oneDNN off ({KEPT_OFF})"
    assert "Final step 2" in train.stdout
    machine = json.loads((run_dir / "run.json").read_text())["machine"]
    assert machine["onednn"] is False and machine["onednn_reason"] == KEPT_OFF
