"""Strategy choice ("auto" rules, explicit kinds), CPU replicas, XLA default."""

import json
import subprocess
import sys

import pytest
import tensorflow as tf

from deepnets.training import (
    ConfigError,
    TrainConfig,
    configure_cpu_replicas,
    configure_threads,
    is_chief,
    make_strategy,
    plan_run,
)
from deepnets.training.strategy import resolve_jit_compile, strategy_kind

TWO_WORKERS = json.dumps(
    {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}
)


def test_auto_picks_by_environment(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_kind(TrainConfig()) == "one_device"  # this machine has no GPU
    assert strategy_kind(TrainConfig(cpu_replicas=2)) == "mirrored"
    assert strategy_kind(TrainConfig(tpu="local")) == "tpu"
    monkeypatch.setenv("TF_CONFIG", TWO_WORKERS)
    assert strategy_kind(TrainConfig()) == "multi_worker"
    assert strategy_kind(TrainConfig(strategy="one_device")) == "one_device"


def test_bad_tf_config_is_reported(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        strategy_kind(TrainConfig())


def test_one_device_on_cpu_is_chief_without_xla(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = make_strategy(TrainConfig(strategy="one_device"))
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert is_chief(strategy)
    assert resolve_jit_compile("auto", strategy) is False
    assert resolve_jit_compile(True, strategy) is True


def test_cpu_replicas_cannot_change_after_tensorflow_started():
    tf.constant(1.0) + 1.0  # the runtime is initialized with one CPU device
    configure_cpu_replicas(1)  # asking for what is already there is fine
    with pytest.raises(RuntimeError, match=r"configure_cpu_replicas\(3\) must run before"):
        configure_cpu_replicas(3)
    with pytest.raises(ValueError, match="positive integer"):
        configure_cpu_replicas(0)


def test_thread_pools_are_sized_in_a_fresh_process():
    script = (
        "import tensorflow as tf\n"
        "from deepnets.training import TrainConfig, plan_run\n"
        "plan_run(TrainConfig(intra_op_threads=1, inter_op_threads=1, model='vgg_fast_half'))\n"
        "t = tf.config.threading\n"
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.split()[-2:] == ["1", "1"]


def test_thread_pools_of_a_running_tensorflow_are_refused_by_name():
    tf.constant(1.0) + 1.0  # TensorFlow is running
    current = tf.config.threading.get_inter_op_parallelism_threads()
    wanted = current + 3
    with pytest.raises(ConfigError, match="inter_op_threads.*before TensorFlow executes any op"):
        plan_run(TrainConfig(inter_op_threads=wanted))
    configure_threads(0, current)  # the sizes already set, or the defaults: nothing to do
    with pytest.raises(ValueError, match="intra_op must be a non-negative integer"):
        configure_threads(-1)
