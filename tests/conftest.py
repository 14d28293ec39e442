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


def pytest_configure(config):
    """TensorFlow is imported where tests run: in each worker, or in the one process of
    `pytest -n 0`; the controller of the workers does without it (its import delayed their
    start by several seconds)."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        _iterators_without_autotuning()


def _iterators_without_autotuning():
    """Every tf.data iterator the tests open runs without autotuning, as those of deepnets' own
    pipelines do: Keras' fit and predict and the tests' own pipelines too. A test that freed an
    autotuned iterator (often at a garbage collection) stood still for 5-25 s in its
    destructor, waiting out the sleep of the pipeline's autotuning thread (the reason is in
    deepnets/data/autotuning.py). TensorFlow applies a dataset's debug options to every
    iterator it opens, so the option goes in there; a dataset that sets autotuning itself keeps
    its own."""
    import tensorflow as tf

    from deepnets.data.autotuning import without_autotuning

    apply_debug_options = tf.data.Dataset._apply_debug_options

    def apply_debug_options_without_autotuning(self):
        return without_autotuning(apply_debug_options(self))

    tf.data.Dataset._apply_debug_options = apply_debug_options_without_autotuning


# The test files that take longest (`pytest --durations` on a 2-core machine, 2026-12-07),
# longest first. The two workers take whole files in collection order (pyproject.toml:
# `--no-loadscope-reorder`), so these start first and the short files fill in at the end.
# pytest-xdist's own order (the files with most tests first) left most of these single-test
# files to the end, where one worker ran the last of them while the other had finished.
LONGEST_FIRST = (
    "tests/training/test_fault_drills.py",
    "tests/trainers/test_cli.py",
    "tests/trainers/test_predict.py",
    "tests/benchmarks/test_throughput.py",
    "tests/training/test_run_folder.py",
    "tests/training/test_train_api.py",
    "tests/training/test_budget.py",
    "tests/training/test_fine_tuning.py",
    "tests/training/test_distributed.py",
    "tests/training/test_fault_tolerance.py",
    "tests/experiments/test_vgg16_lesson.py",
    "tests/trainers/test_readme_command.py",
    "tests/experiments/test_time_to_accuracy.py",
    "tests/training/test_portable_export.py",
    "tests/benchmarks/test_kernel_compare.py",
    "tests/data/test_folder_pipelines.py",
    "tests/backends/test_jax.py",
    "tests/trainers/test_fast_kernels.py",
)


def pytest_collection_modifyitems(items):
    """The files of `LONGEST_FIRST` first, in its order; the others after, as collected."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts with the float32 policy and channels_last, whatever the last one set.

    (The garbage of each test of over 2 s was collected right after it while the tests'
    iterators were autotuned; without autotuning nothing waits for it, and each collection cost
    a quarter of a second.)
    """
    import tensorflow as tf

    yield
    tf.keras.mixed_precision.set_global_policy("float32")
    tf.keras.config.set_image_data_format("channels_last")
