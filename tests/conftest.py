"""Shared test settings: quiet TensorFlow logs, and Keras' global state reset after each test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX;
# without them (AVX2-only machines) its Conv2D runs NHWC only, so channels_first models fail.
# The tests run as on the machines where oneDNN is on (see docs/performance.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# So deepnets' own choice (deepnets.cpu_kernels) never runs in the suite: the setting above is
# the user's, and no opt-in, recorded decision or fake CPU leaks in from the shell.
for _name in ("DEEPNETS_FAST_CPU_KERNELS", "DEEPNETS_ONEDNN_DECISION", "DEEPNETS_FAKE_CPU_FLAGS"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts with the float32 policy and channels_last, whatever the last one set."""
    yield
    tf.keras.mixed_precision.set_global_policy("float32")
    tf.keras.config.set_image_data_format("channels_last")
