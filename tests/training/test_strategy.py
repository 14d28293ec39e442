"""Strategy choice ("auto" rules, explicit kinds), CPU replicas, XLA and precision defaults."""

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
from deepnets.training.run import plan as plan_module
from deepnets.training.runtime import strategy as strategy_module
from deepnets.training.runtime.strategy import (
    resolve_jit_compile,
    resolve_mixed_precision,
    strategy_kind,
)

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


class FakeStrategy:
    """Only what `resolve_mixed_precision` reads: the replicas' devices."""

    def __init__(self, device: str) -> None:
        self.extended = type("Extended", (), {"worker_devices": (device,)})()


@pytest.mark.parametrize("units, expected", [(True, "mixed_bfloat16"), (False, None)])
def test_auto_precision_on_a_cpu_is_bfloat16_only_with_bfloat16_units(monkeypatch, units, expected):
    monkeypatch.setattr(strategy_module, "native_bfloat16", lambda: units)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert resolve_mixed_precision("auto", strategy) == expected
    for explicit in (None, "mixed_float16", "mixed_bfloat16"):  # never second-guessed
        assert resolve_mixed_precision(explicit, strategy) == explicit


def test_bfloat16_is_refused_on_cpus_whose_onednn_is_capped_below_it(monkeypatch):
    monkeypatch.setattr(strategy_module, "onednn_enabled", lambda: True)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # read at each call, as the cap is set
    with pytest.raises(ConfigError) as refused:
        resolve_mixed_precision("mixed_bfloat16", strategy)
    assert refused.value.describe("--mixed_precision") == (
        "--mixed_precision: 'mixed_bfloat16' cannot run with oneDNN capped at AVX2 "
        "(ONEDNN_MAX_CPU_ISA or DNNL_MAX_CPU_ISA): TensorFlow's bfloat16 kernels crash under a "
        "cap below the CPU's bfloat16 units; unset the cap, or leave mixed_precision unset "
        "(float32) or 'auto'"
    )
    for kept in (None, "mixed_float16"):
        assert resolve_mixed_precision(kept, strategy) == kept
    gpu = FakeStrategy("/job:localhost/replica:0/task:0/device:GPU:0")  # oneDNN's cap: CPUs only
    assert resolve_mixed_precision("mixed_bfloat16", gpu) == "mixed_bfloat16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap that keeps the units
    assert resolve_mixed_precision("mixed_bfloat16", strategy) == "mixed_bfloat16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(strategy_module, "onednn_enabled", lambda: False)  # Eigen's kernels
    assert resolve_mixed_precision("mixed_bfloat16", strategy) == "mixed_bfloat16"


@pytest.mark.parametrize(
    "capabilities, expected",
    [([(8, 0)], "mixed_float16"), ([(7, 0), (8, 6)], "mixed_float16"), ([(8, 0), (6, 1)], None)],
)
def test_auto_precision_on_gpus_is_float16_where_every_gpu_has_tensor_cores(
    monkeypatch, capabilities, expected
):
    gpus = [f"GPU:{i}" for i in range(len(capabilities))]
    details = dict(zip(gpus, capabilities, strict=True))
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus)
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda gpu: {"compute_capability": details[gpu]},
    )
    monkeypatch.setattr(strategy_module, "native_bfloat16", lambda: True)  # the GPU decides
    strategy = FakeStrategy("/job:localhost/replica:0/task:0/device:GPU:0")
    assert resolve_mixed_precision("auto", strategy) == expected


def test_auto_precision_on_a_tpu_is_bfloat16(monkeypatch):
    monkeypatch.setattr(strategy_module, "native_bfloat16", lambda: False)
    strategy = FakeStrategy("/job:worker/replica:0/task:0/device:TPU:0")
    assert resolve_mixed_precision("auto", strategy) == "mixed_bfloat16"


@pytest.mark.parametrize("units", [True, False])
def test_the_plan_carries_the_precision_auto_resolved_to(monkeypatch, units):
    monkeypatch.setattr(strategy_module, "native_bfloat16", lambda: units)
    plan = plan_run(TrainConfig(mixed_precision="auto"))
    assert plan.mixed_precision == ("mixed_bfloat16" if units else None)
    assert plan.config.mixed_precision == "auto"  # the config keeps what was asked


def test_a_backbone_rate_is_refused_where_auto_chose_loss_scaling(monkeypatch):
    monkeypatch.setattr(plan_module, "resolve_mixed_precision", lambda setting, s: "mixed_float16")
    cfg = TrainConfig(mixed_precision="auto", backbone_learning_rate_multiplier=0.1)
    with pytest.raises(ConfigError, match=r"mixed_float16 \(what mixed_precision='auto' chose"):
        plan_run(cfg)
