"""The machine a run or a measurement ran on.

Wall-clock figures (images per second, minutes to an accuracy) compare only on the same machine
with the same TensorFlow setting: on a 2-core AVX2-only CPU, TensorFlow leaves its oneDNN
kernels off unless `TF_ENABLE_ONEDNN_OPTS=1` is set, and a training step ran 1.76x slower. So
`run.json` records these facts and the benchmarks print them.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

# Read without TensorFlow (deepnets.cpu_kernels runs before it starts); named here too.
from deepnets.cpu_kernels import (
    bfloat16_allowed,
    cpu_flags,
    cpu_model,
    kernel_decision,
    onednn_enabled,
    onednn_isa_cap,
)

__all__ = [
    "BFLOAT16_UNITS",
    "bfloat16_allowed",
    "bfloat16_units",
    "cpu_flags",
    "cpu_model",
    "describe_machine",
    "machine_facts",
    "native_bfloat16",
    "onednn_enabled",
    "onednn_isa_cap",
    "usable_cpus",
]


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# The CPU flags of bfloat16 units oneDNN computes with, and how the machine line names them.
BFLOAT16_UNITS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


def bfloat16_units(facts: dict[str, Any]) -> str | None:
    """The name of the CPU's bfloat16 units in `facts` ("AMX-BF16", "AVX512-BF16"), or None."""
    return next((name for flag, name in BFLOAT16_UNITS.items() if facts.get(flag)), None)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 products in hardware (Intel AMX, `amx_bf16`, or the
    AVX-512 BF16 dot-product instructions, `avx512_bf16`: Intel Cooper Lake and Sapphire Rapids,
    AMD Zen 4 on) and TensorFlow runs the oneDNN kernels that use them.

    Only then does `mixed_bfloat16` pay on a CPU: a `vgg_fast` training step ran 3.2x faster
    than in float32 on a 2-core Xeon with AMX, and 1.51x (`vgg_fast_half` 1.54x, a ResNet-18
    1.18x) on a 2-core AMD EPYC with AVX-512 BF16 and no AMX; on CPUs with neither, the bfloat16
    kernels are slower than float32 ones. Nor where oneDNN is capped below them
    (`ONEDNN_MAX_CPU_ISA=AVX2`, say).
    """
    flags = cpu_flags()
    has_units = any(flag in flags for flag in BFLOAT16_UNITS)
    return has_units and bfloat16_allowed() and bool(onednn_enabled())


def machine_facts() -> dict[str, Any]:
    """{"cpu": model name, "cpus": usable logical CPUs, "onednn": bool or None,
    "onednn_reason": who turned oneDNN on or off and why (`deepnets.cpu_kernels`),
    "onednn_isa_cap": oneDNN's ISA cap (`ONEDNN_MAX_CPU_ISA`) or None, "amx_bf16" and
    "avx512_bf16": whether oneDNN may use those bfloat16 units of the CPU, "gpus": count}."""
    flags = cpu_flags() if bfloat16_allowed() else frozenset()
    return {
        "cpu": cpu_model(),
        "cpus": usable_cpus(),
        "onednn": onednn_enabled(),
        "onednn_reason": kernel_decision().reason,
        "onednn_isa_cap": onednn_isa_cap(),
        **{flag: flag in flags for flag in BFLOAT16_UNITS},
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def describe_machine(facts: dict[str, Any] | None = None) -> str:
    """One line, e.g. "AMD EPYC, 2 CPUs, oneDNN on, no GPU" ("..., oneDNN on, AMX-BF16, ..."
    or "..., AVX512-BF16, ..." where the CPU has bfloat16 units; "oneDNN on (capped at AVX2)"
    under `ONEDNN_MAX_CPU_ISA=AVX2`)."""
    facts = machine_facts() if facts is None else facts
    kernels = {True: "oneDNN on", False: "oneDNN off", None: "oneDNN unknown"}[facts.get("onednn")]
    if facts.get("onednn_isa_cap"):
        kernels += f" (capped at {facts['onednn_isa_cap']})"
    units = bfloat16_units(facts)
    if units:
        kernels += f", {units}"
    gpus = facts.get("gpus", 0)
    gpu_text = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
    return f"{facts.get('cpu', 'unknown')}, {facts.get('cpus', '?')} CPUs, {kernels}, {gpu_text}"
