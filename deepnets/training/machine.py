"""The machine a run or a measurement ran on.

Wall-clock figures (images per second, minutes to an accuracy) compare only on the same machine
with the same TensorFlow setting: on a 2-core AVX2-only CPU, TensorFlow leaves its oneDNN
kernels off unless `TF_ENABLE_ONEDNN_OPTS=1` is set, and a training step ran 1.76x slower. So
`run.json` records these facts and the benchmarks print them.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import tensorflow as tf


def cpu_model() -> str:
    """The CPU's model name ("model name" of /proc/cpuinfo on Linux), or "unknown"."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags ("flags" of /proc/cpuinfo on Linux; empty where unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (None: cannot tell).

    TensorFlow decides once, at import: on by default on CPUs with AVX-512 VNNI/BF16 or AMX,
    elsewhere only with `TF_ENABLE_ONEDNN_OPTS=1` set before the import.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow build without the probe
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX, `amx_bf16`) and
    TensorFlow runs the oneDNN kernels that use it.

    Only then does `mixed_bfloat16` pay on a CPU: on a 2-core Xeon with AMX a `vgg_fast_half`
    training step ran 2.4x and `vgg_fast` 3.2x faster than in float32; without AMX the bfloat16
    kernels are slower than float32 ones.
    """
    return "amx_bf16" in cpu_flags() and bool(onednn_enabled())


def machine_facts() -> dict[str, Any]:
    """{"cpu": model name, "cpus": usable logical CPUs, "onednn": bool or None, "amx_bf16":
    whether the CPU has AMX bfloat16 units, "gpus": count}."""
    return {
        "cpu": cpu_model(),
        "cpus": usable_cpus(),
        "onednn": onednn_enabled(),
        "amx_bf16": "amx_bf16" in cpu_flags(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def describe_machine(facts: dict[str, Any] | None = None) -> str:
    """One line, e.g. "AMD EPYC, 2 CPUs, oneDNN on, no GPU" ("..., oneDNN on, AMX-BF16, ..."
    where the CPU has AMX bfloat16 units)."""
    facts = machine_facts() if facts is None else facts
    kernels = {True: "oneDNN on", False: "oneDNN off", None: "oneDNN unknown"}[facts.get("onednn")]
    if facts.get("amx_bf16"):
        kernels += ", AMX-BF16"
    gpus = facts.get("gpus", 0)
    gpu_text = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
    return f"{facts.get('cpu', 'unknown')}, {facts.get('cpus', '?')} CPUs, {kernels}, {gpu_text}"
