"""Which `tf.distribute.Strategy` a run uses, and the facts about it the loop needs.

`make_strategy(cfg)` turns `cfg.strategy` into a strategy object. "auto" picks, in order: a TPU
when `cfg.tpu` names one, `MultiWorkerMirroredStrategy` when `TF_CONFIG` describes a cluster of
more than one task, `MirroredStrategy` when there is more than one GPU (or `cfg.cpu_replicas > 1`),
else `OneDeviceStrategy` on the first GPU or the CPU.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import tensorflow as tf

from deepnets.training.config import ConfigError
from deepnets.training.runtime.machine import (
    bfloat16_allowed,
    native_bfloat16,
    onednn_enabled,
    onednn_isa_cap,
)

if TYPE_CHECKING:
    from deepnets.training.config import TrainConfig


def configure_cpu_replicas(num_replicas: int) -> None:
    """Splits the first physical CPU into `num_replicas` logical devices.

    With 2, `MirroredStrategy(["/cpu:0", "/cpu:1"])` runs two replicas on one CPU, which is how
    the distributed code paths are tested without accelerators. It must run before TensorFlow
    executes any op; calling it again with the same number is a no-op.

    Args:
        num_replicas: number of logical CPU devices (1 leaves the CPU whole).

    Raises:
        ValueError: if `num_replicas` is not a positive integer.
        RuntimeError: if TensorFlow was already initialized with a different device layout.
    """
    if not isinstance(num_replicas, int) or isinstance(num_replicas, bool) or num_replicas < 1:
        raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    current_count = len(current) if current else 1
    if current_count == num_replicas:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_replicas)]
        )
    except RuntimeError as err:
        raise RuntimeError(
            f"configure_cpu_replicas({num_replicas}) must run before TensorFlow executes any op, "
            f"but the runtime is already initialized with {current_count} CPU device(s). Call it "
            "(or make_strategy with cpu_replicas) at the start of the program, in a fresh process."
        ) from err


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Sets TensorFlow's thread pools: threads per op (`intra_op`) and ops at once (`inter_op`).

    0 leaves a pool at TensorFlow's default. It must run before TensorFlow executes any op;
    asking again for the sizes already set is a no-op.

    Args:
        intra_op: threads one op may use; 0 for the default.
        inter_op: ops that may run concurrently; 0 for the default.

    Raises:
        ValueError: a size that is not a non-negative integer.
        RuntimeError: TensorFlow is already running with other pool sizes.
    """
    threading = tf.config.threading
    for name, value, get, put in (
        (
            "intra_op",
            intra_op,
            threading.get_intra_op_parallelism_threads,
            threading.set_intra_op_parallelism_threads,
        ),
        (
            "inter_op",
            inter_op,
            threading.get_inter_op_parallelism_threads,
            threading.set_inter_op_parallelism_threads,
        ),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if value == 0 or get() == value:
            continue
        try:
            put(value)
        except RuntimeError as err:
            raise RuntimeError(
                f"the {name} thread pool can only be sized before TensorFlow executes any op, and "
                f"it already runs with {get() or 'the default'}; set it at the start of a fresh "
                "process (as deepnets-train does)."
            ) from err


def make_strategy(cfg: TrainConfig) -> tf.distribute.Strategy:
    """Creates the distribution strategy that `cfg.strategy` asks for.

    Args:
        cfg: the run's config; reads `strategy`, `tpu` and `cpu_replicas`.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown strategy name, or "tpu" without `cfg.tpu`.
        RuntimeError: if `cpu_replicas > 1` but TensorFlow is already initialized.
    """
    if cfg.cpu_replicas > 1:
        configure_cpu_replicas(cfg.cpu_replicas)
    kind = strategy_kind(cfg)
    if kind == "tpu":
        if not cfg.tpu:
            raise ValueError("strategy='tpu' needs TrainConfig.tpu (a TPU name or 'local').")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=cfg.tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(_local_replica_devices())
    if kind == "one_device":
        gpus = tf.config.list_physical_devices("GPU")
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    raise ValueError(
        f"TrainConfig.strategy={cfg.strategy!r} is invalid: expected one of "
        "'auto', 'one_device', 'mirrored', 'multi_worker', 'tpu'."
    )


def strategy_kind(cfg: TrainConfig) -> str:
    """The strategy `make_strategy(cfg)` creates, with "auto" resolved.

    Args:
        cfg: reads `strategy`, `tpu` and `cpu_replicas`, and the TF_CONFIG environment variable.

    Returns:
        One of "tpu", "multi_worker", "mirrored", "one_device".
    """
    if cfg.strategy != "auto":
        return cfg.strategy
    if cfg.tpu:
        return "tpu"
    if _tf_config_task_count() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1 or cfg.cpu_replicas > 1:
        return "mirrored"
    return "one_device"


def _tf_config_task_count() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"TF_CONFIG is not valid JSON with a 'cluster' key: {raw!r}") from err
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker"))


def _local_replica_devices() -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def uses_accelerator(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy's replicas run on GPUs or TPUs.

    Args:
        strategy: a distribution strategy.

    Returns:
        True if any replica device is a GPU or TPU.
    """
    devices = strategy.extended.worker_devices
    return any(("GPU" in d.upper()) or ("TPU" in d.upper()) for d in devices)


def resolve_jit_compile(setting: str | bool, strategy: tf.distribute.Strategy) -> bool:
    """Turns `TrainConfig.jit_compile` into a bool.

    XLA made train steps several times slower on CPU here, so "auto" means on for accelerators,
    off for CPU. TPU programs are compiled whole anyway; the flag only matters on GPU/CPU.

    Args:
        setting: "auto", True or False.
        strategy: the run's strategy.

    Returns:
        Whether to compile the per-replica forward/backward pass with XLA.
    """
    if isinstance(setting, bool):
        return setting
    return uses_accelerator(strategy)


# GPUs from Volta on (compute capability 7.0) have float16 tensor cores.
FLOAT16_COMPUTE_CAPABILITY = (7, 0)


def resolve_mixed_precision(setting: str | None, strategy: tf.distribute.Strategy) -> str | None:
    """Turns `TrainConfig.mixed_precision` into a Keras dtype policy name, or None (float32).

    "auto" picks what is faster on the run's devices: mixed_bfloat16 on TPUs and on CPUs that
    multiply bfloat16 in hardware (AMX or AVX-512 BF16, with oneDNN on:
    `machine.native_bfloat16`), mixed_float16 on GPUs with float16 tensor cores (compute
    capability 7.0 or later), float32 elsewhere (on other CPUs both mixed policies are slower
    than float32).

    Args:
        setting: None, "auto", "mixed_float16" or "mixed_bfloat16".
        strategy: the run's strategy.

    Returns:
        None, "mixed_float16" or "mixed_bfloat16".

    Raises:
        ConfigError: "mixed_bfloat16" on CPUs whose oneDNN kernels are on and capped below the
            CPU's bfloat16 units (`ONEDNN_MAX_CPU_ISA=AVX2`, say): TensorFlow's bfloat16
            kernels crash the process there.
    """
    capped = onednn_enabled() and not bfloat16_allowed()
    if setting == "mixed_bfloat16" and capped and not uses_accelerator(strategy):
        raise ConfigError(
            "mixed_precision",
            setting,
            reason=(
                f"'mixed_bfloat16' cannot run with oneDNN capped at "
                f"{onednn_isa_cap()} (ONEDNN_MAX_CPU_ISA or DNNL_MAX_CPU_ISA): TensorFlow's "
                "bfloat16 kernels crash under a cap below the CPU's bfloat16 units; unset the "
                "cap, or leave mixed_precision unset (float32) or 'auto'"
            ),
        )
    if setting != "auto":
        return setting
    devices = [d.upper() for d in strategy.extended.worker_devices]
    if any("TPU" in d for d in devices):
        return "mixed_bfloat16"
    if any("GPU" in d for d in devices):
        gpus = tf.config.list_physical_devices("GPU")
        capabilities = [
            tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            for gpu in gpus
        ]
        fast = bool(capabilities) and min(capabilities) >= FLOAT16_COMPUTE_CAPABILITY
        return "mixed_float16" if fast else None
    return "mixed_bfloat16" if native_bfloat16() else None


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for a `MultiWorkerMirroredStrategy` spanning more than one worker."""
    task_type, _ = task_identity(strategy)
    if task_type is None:
        return False
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(cluster.get(job, [])) for job in ("chief", "worker")) > 1


def task_identity(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """The (task_type, task_id) of this process; (None, 0) outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the shared artifacts (TensorBoard, CSV, final model).

    Args:
        strategy: the run's strategy.

    Returns:
        True for single-process strategies, and for the chief (or worker 0 when the cluster has
        no chief job) of a multi-worker cluster.
    """
    task_type, task_id = task_identity(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster
