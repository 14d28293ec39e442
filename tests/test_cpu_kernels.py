"""Which CPU kernels TensorFlow runs: deepnets' decision, made before TensorFlow starts, and the
warning when TensorFlow runs without oneDNN on a CPU where it would help."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepnets import cpu_kernels
from deepnets.cpu_kernels import (
    DECISION_VARIABLE,
    FAKE_FLAGS_VARIABLE,
    ONEDNN_VARIABLE,
    OPT_IN_VARIABLE,
    KernelDecision,
    bfloat16_allowed,
    decide,
    onednn_isa_cap,
    record,
)

ROOT = Path(__file__).resolve().parents[1]
AVX2 = frozenset({"sse2", "avx", "avx2", "fma"})
AVX512_NO_VNNI = AVX2 | {"avx512f", "avx512bw"}  # Skylake-X: TensorFlow leaves oneDNN off
AMX = AVX2 | {"avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
ZEN4 = AVX2 | {"avx512f", "avx512_vnni", "avx512_bf16"}
TURNED_ON = "turned on by deepnets: AVX2 without AVX512-VNNI/BF16 or AMX"


OLD = frozenset({"sse2", "sse4_1"})
TF = "TensorFlow's default"
ON_THIS = "TensorFlow's default on this CPU"
USER = "set by the user: TF_ENABLE_ONEDNN_OPTS"
CASES = [  # (environment, CPU flags, architecture, oneDNN, decided by, reason)
    ({}, AVX2, "x86_64", True, "deepnets", TURNED_ON),
    ({}, AVX512_NO_VNNI, "x86_64", True, "deepnets", TURNED_ON.replace("AVX2", "AVX-512")),
    ({}, ZEN4, "x86_64", True, "tensorflow", f"{ON_THIS} (AVX512-BF16, AVX512-VNNI)"),
    ({}, AMX, "AMD64", True, "tensorflow", f"{ON_THIS} (AMX, AVX512-BF16, AVX512-VNNI)"),
    ({}, AVX2 | {"avx_vnni"}, "x86_64", True, "tensorflow", f"{ON_THIS} (AVX-VNNI)"),
    ({}, OLD, "x86_64", False, "tensorflow", f"{ON_THIS} (no AVX2)"),
    ({ONEDNN_VARIABLE: "0"}, AVX2, "x86_64", False, "user", f"{USER}=0"),
    ({ONEDNN_VARIABLE: "1"}, AVX2, "x86_64", True, "user", f"{USER}=1"),
    ({ONEDNN_VARIABLE: "False"}, AMX, "x86_64", False, "user", f"{USER}=False"),
    ({ONEDNN_VARIABLE: "on"}, AVX2, "x86_64", None, "user", f"{USER}=on, which TensorFlow ignores"),
    ({}, AVX2, "aarch64", None, "tensorflow", f"{TF} on this aarch64 CPU"),
    ({}, frozenset(), "x86_64", None, "tensorflow", f"{TF} (CPU features unknown)"),
]


@pytest.mark.parametrize("environ, flags, machine, onednn, by, reason", CASES)
def test_the_decision_for_each_cpu_and_setting(environ, flags, machine, onednn, by, reason):
    assert decide(environ, flags, machine) == KernelDecision(onednn, by, reason)


def test_a_recorded_decision_holds_while_the_setting_is_the_one_deepnets_made():
    environ = {}
    record(KernelDecision(False, "deepnets", "kept off: the kernel check found it wrong"), environ)
    assert environ[ONEDNN_VARIABLE] == "0"
    kept = KernelDecision(False, "deepnets", "kept off: the kernel check found it wrong")
    assert decide(environ, AVX2, "x86_64") == kept  # a restarted binary, a child process
    environ[ONEDNN_VARIABLE] = "1"  # the user changed it since: theirs
    assert decide(environ, AVX2, "x86_64").by == "user"
    with pytest.raises(ValueError, match="decision=.*expected one made by deepnets"):
        record(KernelDecision(True, "user", "set by the user"), {})


def test_the_fake_cpu_flags_variable_replaces_proc_cpuinfo(monkeypatch):
    monkeypatch.setenv(FAKE_FLAGS_VARIABLE, "sse2 avx2")
    assert cpu_kernels.cpu_flags() == frozenset({"sse2", "avx2"})
    monkeypatch.delenv(FAKE_FLAGS_VARIABLE)
    assert "sse2" in cpu_kernels.cpu_flags()  # this CPU's own


def run_python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in (ONEDNN_VARIABLE, OPT_IN_VARIABLE)}
    environ.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **env)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_decision_imports_nothing_but_the_standard_library():
    path = ROOT / "deepnets" / "cpu_kernels.py"  # loaded alone: deepnets/__init__ imports TF
    code = f"""
import importlib.util, json, os, sys
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("cpu_kernels", {str(path)!r})
module = sys.modules["cpu_kernels"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
decision = module.at_import()
new = sorted(set(sys.modules) - before)
print(json.dumps({{"new": new, "by": decision.by, "setting": os.environ.get("{ONEDNN_VARIABLE}")}}))
"""
    result = run_python(code, **{FAKE_FLAGS_VARIABLE: " ".join(AVX2), OPT_IN_VARIABLE: "1"})
    assert "tensorflow" not in result["new"] and not any("deepnets" in m for m in result["new"])
    assert result["by"] == "deepnets" and result["setting"] == "1"


def test_import_deepnets_decides_before_tensorflow_starts_when_asked():
    code = """
import json, os, sys
import deepnets
from deepnets.cpu_kernels import kernel_decision, describe_kernels
print(json.dumps({"decision": kernel_decision().__dict__, "line": describe_kernels(),
                  "setting": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}))
"""
    asked = run_python(code, **{FAKE_FLAGS_VARIABLE: " ".join(AVX2), OPT_IN_VARIABLE: "1"})
    assert asked["decision"] == {"onednn": True, "by": "deepnets", "reason": TURNED_ON}
    assert asked["setting"] == "1" and asked["line"] == f"oneDNN on ({TURNED_ON})"
    # Not asked (a library user without the variable): TensorFlow's default, untouched.
    plain = run_python(code, **{FAKE_FLAGS_VARIABLE: " ".join(AVX2)})
    assert plain["setting"] is None and plain["decision"]["by"] == "tensorflow"
    assert f"{OPT_IN_VARIABLE} not set" in plain["decision"]["reason"]


def test_import_deepnets_warns_once_when_tensorflow_started_on_the_slow_path():
    # TensorFlow started first with oneDNN off, as it does on an AVX2 CPU by default (this
    # machine would turn it on by itself, so the test starts it off and removes the setting).
    code = """
import json, os, warnings
import tensorflow
del os.environ["TF_ENABLE_ONEDNN_OPTS"]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import deepnets
    from deepnets import cpu_kernels
    cpu_kernels.warn_if_slow()  # a second look: no second warning
print(json.dumps({"warnings": [[w.category.__name__, str(w.message)] for w in caught],
                  "reason": cpu_kernels.kernel_decision().reason}))
"""
    result = run_python(code, **{FAKE_FLAGS_VARIABLE: " ".join(AVX2), ONEDNN_VARIABLE: "0"})
    ((category, message),) = result["warnings"]
    assert category == "SlowKernelsWarning"
    assert "TensorFlow runs without its oneDNN kernels on this CPU" in message
    assert "Set TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow starts" in message
    assert result["reason"] == "TensorFlow's default (it started before deepnets)"


@pytest.mark.parametrize("flags", [AVX2, AMX])
def test_no_warning_where_the_user_chose_or_tensorflow_runs_onednn(monkeypatch, recwarn, flags):
    monkeypatch.setattr(cpu_kernels, "cpu_flags", lambda: flags)
    monkeypatch.setattr(cpu_kernels, "_warned", False)
    cpu_kernels.warn_if_slow()  # the suite sets TF_ENABLE_ONEDNN_OPTS (tests/conftest.py)
    monkeypatch.delenv(ONEDNN_VARIABLE)
    monkeypatch.setattr(cpu_kernels, "onednn_enabled", lambda: True)
    cpu_kernels.warn_if_slow()  # on: nothing to say
    assert not [w for w in recwarn if w.category is cpu_kernels.SlowKernelsWarning]
    assert DECISION_VARIABLE not in os.environ


@pytest.mark.parametrize(
    "environ, cap, bfloat16",
    [
        ({}, None, True),
        ({"ONEDNN_MAX_CPU_ISA": "avx2"}, "AVX2", False),  # an AVX2 CPU's kernels
        ({"DNNL_MAX_CPU_ISA": "AVX512_CORE"}, "AVX512_CORE", False),  # the older name
        # oneDNN's own name counts first
        (
            {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "DNNL_MAX_CPU_ISA": "AVX2"},
            "AVX512_CORE_BF16",
            True,
        ),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "AVX512_CORE_AMX", True),
        ({"ONEDNN_MAX_CPU_ISA": " "}, None, True),
    ],
)
def test_onednns_isa_cap_and_whether_it_leaves_the_bfloat16_units(environ, cap, bfloat16):
    assert onednn_isa_cap(environ) == cap
    assert bfloat16_allowed(environ) is bfloat16
