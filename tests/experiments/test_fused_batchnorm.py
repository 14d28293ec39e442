"""experiments.fused_batchnorm: the deepnets loop with the fused kernel against Keras' path."""

import os
import subprocess
import sys

import pytest

from deepnets.layers import BatchNormalization
from experiments.fused_batchnorm import compare, format_row, keras_path


def test_the_keras_contender_traces_with_the_switch_off_and_restores_it():
    seen = []
    contender = keras_path(lambda count: seen.append(BatchNormalization.use_fused_kernel) or 1.0)
    assert contender(3) == 1.0
    assert seen == [False] and BatchNormalization.use_fused_kernel is True


def test_both_loops_train_and_the_row_shows_their_ratio():
    # The smallest row with deepnets' BatchNormalization: 6 of them to trace, not ResNet-18's 20.
    rates = compare("vgg_fast_half", repetitions=2, steps=1, batch_size=4)
    assert set(rates) == {"fused", "keras"}
    assert all(len(m.samples) == 2 and min(m.samples) > 0 for m in rates.values())
    assert BatchNormalization.use_fused_kernel is True
    row = format_row("vgg_fast_half", 4, rates)
    assert row.startswith("vgg_fast_half") and row.endswith(
        f"{rates['fused'].median / rates['keras'].median:.2f}"
    )


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("experiments.fused_batchnorm", ["--models=resnet51"], "--models: unknown ['resnet51']"),
        ("experiments.fused_batchnorm", ["--steps=0"], "--steps=0: must be a positive integer"),
        ("experiments.fused_batchnorm", ["extra"], "unexpected positional arguments ['extra']"),
        ("experiments.cpu_settings", ["--settings=turbo"], "--settings: unknown ['turbo']"),
        ("experiments.conv_profile", ["--repetitions=-1"], "--repetitions=-1: must be a positive"),
    ],
)
def test_the_benchmark_binaries_refuse_bad_flags_in_one_line(module, args, message):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=300
    )
    program = module.split(".")[1].replace("_", "-")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{program}: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
