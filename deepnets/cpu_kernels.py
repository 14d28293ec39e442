"""Which CPU kernels TensorFlow runs: oneDNN's or its default (Eigen) ones, and why.

TensorFlow decides once, when it starts: on Linux it turns its oneDNN kernels on by itself only
on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; elsewhere only `TF_ENABLE_ONEDNN_OPTS=1`
set before it starts turns them on. Most x86 CPUs people own have none of those features, and
there a training step runs about 2x slower without them (`vgg_fast` on a 2-core AVX2 EPYC: 72
images/s as TensorFlow starts by default, 166 with oneDNN on).

So `deepnets-train` turns them on where TensorFlow would leave them off and the user has not
set `TF_ENABLE_ONEDNN_OPTS` either way. Library users ask for the same with one variable, read
when `import deepnets` runs before TensorFlow starts:

    DEEPNETS_FAST_CPU_KERNELS=1 python my_training.py   # my_training.py imports deepnets first

This module imports nothing but the standard library: it runs before TensorFlow is imported
(`deepnets/__init__.py` calls `at_import` first), which is why it sits at the top of the
package and not in `deepnets.training.runtime`, whose parent packages import TensorFlow. The
safety part, the kernel check of the model's convolutions, is in
`deepnets.training.runtime.kernel_verdicts`.

Environment variables:
    TF_ENABLE_ONEDNN_OPTS: TensorFlow's own switch; when set (to anything), deepnets leaves it.
    DEEPNETS_FAST_CPU_KERNELS: "1" asks `import deepnets` for the decision above (the binaries
        set it).
    DEEPNETS_ONEDNN_DECISION: the decision deepnets made (JSON), kept for the run record and
        for processes the binary starts or restarts; internal.
    DEEPNETS_FAKE_CPU_FLAGS: for tests only: the CPU flags to pretend this CPU has
        (space-separated, as /proc/cpuinfo lists them).
    ONEDNN_MAX_CPU_ISA (or the older DNNL_MAX_CPU_ISA): oneDNN's own cap on the instructions
        its kernels use, e.g. "AVX2"; deepnets reads it (`onednn_isa_cap`): kernels checked
        under one cap are not taken for another's, and bfloat16 is not chosen under a cap that
        leaves out the CPU's bfloat16 units. On a CPU with AVX-512, `ONEDNN_MAX_CPU_ISA=AVX2`
        runs the kernels an AVX2-only CPU gets (docs/performance.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import warnings
from collections.abc import MutableMapping

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
OPT_IN_VARIABLE = "DEEPNETS_FAST_CPU_KERNELS"
DECISION_VARIABLE = "DEEPNETS_ONEDNN_DECISION"
FAKE_FLAGS_VARIABLE = "DEEPNETS_FAKE_CPU_FLAGS"

# The CPU flags for which TensorFlow 2.21 turns oneDNN on by itself on Linux (its
# `IsMklEnabled`), named as the reasons say them.
TENSORFLOW_ONEDNN_UNITS = {
    "avx512_vnni": "AVX512-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "avx_vnni": "AVX-VNNI",
    "amx_tile": "AMX",
    "amx_int8": "AMX",
    "amx_bf16": "AMX",
}
# oneDNN's variables capping the instruction set of its kernels; the first set one counts.
ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# oneDNN's ISA names under which its kernels may use the CPU's bfloat16 units.
BFLOAT16_ISA_CAPS = frozenset(
    {
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
        "DEFAULT",
        "ALL",
    }
)
X86_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")
_TRUE, _FALSE = ("1", "true"), ("0", "false")  # what TensorFlow reads as a boolean


class SlowKernelsWarning(UserWarning):
    """TensorFlow started without its oneDNN kernels on a CPU where they would be faster."""


@dataclasses.dataclass(frozen=True)
class KernelDecision:
    """Whether TensorFlow runs its oneDNN kernels, who decided and why.

    Attributes:
        onednn: True or False, or None where TensorFlow decides by rules deepnets cannot read
            (not x86, CPU flags unknown, a value TensorFlow ignores).
        by: "user" (`TF_ENABLE_ONEDNN_OPTS` set), "tensorflow" (its default) or "deepnets".
        reason: one line, e.g. "turned on by deepnets: AVX2 without AVX512-VNNI/BF16 or AMX".
    """

    onednn: bool | None
    by: str
    reason: str


def cpu_model() -> str:
    """The CPU's model name ("model name" of /proc/cpuinfo on Linux), or "unknown"."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags ("flags" of /proc/cpuinfo on Linux; empty where unknown), or
    those `DEEPNETS_FAKE_CPU_FLAGS` names (tests only)."""
    fake = os.environ.get(FAKE_FLAGS_VARIABLE)
    if fake is not None:
        return frozenset(fake.split())
    return frozenset((_cpuinfo_field("flags") or "").split())


def onednn_isa_cap(environ: MutableMapping[str, str] | None = None) -> str | None:
    """The instruction set oneDNN's kernels are capped at, upper case ("AVX2"), from
    `ONEDNN_MAX_CPU_ISA` or else `DNNL_MAX_CPU_ISA`; None where neither is set."""
    environ = os.environ if environ is None else environ
    for name in ISA_CAP_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value.upper()
    return None


def bfloat16_allowed(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether oneDNN's ISA cap (if any) lets its kernels use the CPU's bfloat16 units."""
    cap = onednn_isa_cap(environ)
    return cap is None or cap in BFLOAT16_ISA_CAPS


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name and value.strip():
                    return value.strip()
    except OSError:
        pass
    return None


def _setting(value: str) -> bool | None:
    return True if value.lower() in _TRUE else False if value.lower() in _FALSE else None


def decide(
    environ: MutableMapping[str, str] | None = None,
    flags: frozenset[str] | None = None,
    machine: str | None = None,
) -> KernelDecision:
    """Whether oneDNN should run here: the user's setting, else TensorFlow's default, else on
    where the CPU is x86 with AVX2 and TensorFlow would leave it off.

    Args:
        environ: the environment (default `os.environ`); only read.
        flags: the CPU flags (default `cpu_flags()`).
        machine: the processor architecture (default `platform.machine()`).

    Returns:
        The `KernelDecision`; a decision deepnets recorded earlier (`DECISION_VARIABLE`) is
        returned as it was while `TF_ENABLE_ONEDNN_OPTS` still holds the value deepnets set.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ONEDNN_VARIABLE)
    if value is not None:
        recorded = _recorded(environ)
        if recorded is not None and recorded.onednn == _setting(value):
            return recorded
        ignored = "" if _setting(value) is not None else ", which TensorFlow ignores"
        return KernelDecision(
            _setting(value), "user", f"set by the user: {ONEDNN_VARIABLE}={value}{ignored}"
        )
    flags = cpu_flags() if flags is None else flags
    machine = (platform.machine() if machine is None else machine).lower()
    if machine not in X86_MACHINES:
        return KernelDecision(None, "tensorflow", f"TensorFlow's default on this {machine} CPU")
    if not flags:
        return KernelDecision(None, "tensorflow", "TensorFlow's default (CPU features unknown)")
    units = sorted({name for flag, name in TENSORFLOW_ONEDNN_UNITS.items() if flag in flags})
    if units:
        return KernelDecision(
            True, "tensorflow", f"TensorFlow's default on this CPU ({', '.join(units)})"
        )
    if "avx2" not in flags:
        return KernelDecision(False, "tensorflow", "TensorFlow's default on this CPU (no AVX2)")
    vector = "AVX-512" if "avx512f" in flags else "AVX2"
    return KernelDecision(
        True, "deepnets", f"turned on by deepnets: {vector} without AVX512-VNNI/BF16 or AMX"
    )


def _recorded(environ: MutableMapping[str, str]) -> KernelDecision | None:
    try:
        return KernelDecision(**json.loads(environ[DECISION_VARIABLE]))
    except (KeyError, TypeError, ValueError):
        return None


def record(decision: KernelDecision, environ: MutableMapping[str, str] | None = None) -> None:
    """Sets `TF_ENABLE_ONEDNN_OPTS` as `decision` (made by deepnets) says, and records the
    decision beside it, for the run record and the processes this one starts.

    Args:
        decision: a decision with `by == "deepnets"` and `onednn` True or False.
        environ: the environment to write (default `os.environ`).
    """
    if decision.by != "deepnets" or decision.onednn is None:
        raise ValueError(f"decision={decision!r}: expected one made by deepnets, on or off")
    environ = os.environ if environ is None else environ
    environ[ONEDNN_VARIABLE] = "1" if decision.onednn else "0"
    environ[DECISION_VARIABLE] = json.dumps(dataclasses.asdict(decision))


_at_start: KernelDecision | None = None  # the decision `at_import` found or made


def at_import() -> KernelDecision:
    """Called by `import deepnets` before it imports TensorFlow: with `DEEPNETS_FAST_CPU_KERNELS=1`
    and TensorFlow not started yet, turns oneDNN on where `decide` says deepnets should.

    Returns:
        The decision in effect (also what `kernel_decision` returns from then on).
    """
    global _at_start
    decision = decide()
    if decision.by == "deepnets" and decision.onednn and ONEDNN_VARIABLE not in os.environ:
        if "tensorflow" in sys.modules:
            decision = KernelDecision(
                None, "tensorflow", "TensorFlow's default (it started before deepnets)"
            )
        elif os.environ.get(OPT_IN_VARIABLE, "").lower() in _TRUE:
            record(decision)
        else:
            decision = KernelDecision(
                False, "tensorflow", f"TensorFlow's default: {OPT_IN_VARIABLE} not set"
            )
    _at_start = decision
    return decision


def kernel_decision() -> KernelDecision:
    """The decision in effect in this process (`at_import`'s, or `decide()` before it ran)."""
    return _at_start if _at_start is not None else decide()


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (None: cannot tell).

    Call after TensorFlow is imported (this imports it otherwise).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow build without the probe
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def describe_kernels() -> str:
    """One line: which kernels run and why, e.g. "oneDNN on (turned on by deepnets: AVX2
    without AVX512-VNNI/BF16 or AMX)"."""
    state = {True: "oneDNN on", False: "oneDNN off", None: "oneDNN unknown"}[onednn_enabled()]
    return f"{state} ({kernel_decision().reason})"


_warned = False


def warn_if_slow() -> None:
    """Called by `import deepnets` once TensorFlow runs: warns once when TensorFlow runs
    without oneDNN on a CPU where deepnets would turn it on and the user did not turn it off."""
    global _warned
    if _warned or ONEDNN_VARIABLE in os.environ or decide().by != "deepnets":
        return
    if "tensorflow" not in sys.modules:  # another Keras backend: nothing runs on TensorFlow
        return
    if onednn_enabled() is False:
        _warned = True
        warnings.warn(
            "TensorFlow runs without its oneDNN kernels on this CPU (AVX2 without AVX512-VNNI/"
            "BF16 or AMX): convolutions train about 2x slower. Set TF_ENABLE_ONEDNN_OPTS=1 "
            f"before TensorFlow starts (or {OPT_IN_VARIABLE}=1 and import deepnets before "
            "tensorflow); TF_ENABLE_ONEDNN_OPTS=0 keeps them off without this warning.",
            SlowKernelsWarning,
            stacklevel=3,
        )
