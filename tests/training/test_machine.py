"""The machine facts that run.json records and the benchmarks print."""

import json
import subprocess
import sys

import pytest
from run_scripts import REPO_ROOT, script_env

from deepnets.training.runtime import machine
from deepnets.training.runtime.machine import (
    cpu_flags,
    cpu_model,
    describe_machine,
    machine_facts,
    native_bfloat16,
    onednn_enabled,
)


def test_the_cpu_model_is_the_one_proc_cpuinfo_names():
    with open("/proc/cpuinfo") as f:
        names = {line.split(":", 1)[1].strip() for line in f if line.startswith("model name")}
    assert cpu_model() in names


@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True)])
def test_the_onednn_fact_follows_the_setting_made_before_tensorflow_starts(setting, expected):
    code = "import json; from deepnets.training.runtime.machine import machine_facts; "
    code += "print(json.dumps(machine_facts()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=script_env(TF_ENABLE_ONEDNN_OPTS=setting),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["onednn"] is expected
    assert facts["onednn_reason"] == f"set by the user: TF_ENABLE_ONEDNN_OPTS={setting}"
    assert facts["cpu"] == cpu_model() and facts["gpus"] == 0


def test_describe_machine_is_one_line_naming_each_fact():
    facts = {"cpu": "Some CPU", "cpus": 2, "onednn": False, "gpus": 0}
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN off, no GPU"
    facts.update(onednn=True, gpus=1)
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN on, 1 GPU"
    facts.update(onednn=None, gpus=4)
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN unknown, 4 GPUs"
    assert describe_machine().startswith(cpu_model() + ", ")


def test_the_cpu_flags_are_those_proc_cpuinfo_lists_and_the_bfloat16_units_are_facts(monkeypatch):
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    with open("/proc/cpuinfo") as f:
        listed = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    assert cpu_flags() == frozenset(listed) and "sse2" in cpu_flags()
    assert machine_facts()["amx_bf16"] is ("amx_bf16" in listed)
    assert machine_facts()["avx512_bf16"] is ("avx512_bf16" in listed)
    units = "amx_bf16" in listed or "avx512_bf16" in listed
    assert native_bfloat16() is (units and bool(onednn_enabled()))


def test_capped_at_avx2_onednn_leaves_the_bfloat16_units_out(monkeypatch):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    monkeypatch.setattr(machine, "onednn_enabled", lambda: True)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert native_bfloat16() and machine_facts()["amx_bf16"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # the kernels of an AVX2 CPU: no bfloat16
    assert not native_bfloat16()
    facts = machine_facts()
    assert facts["onednn_isa_cap"] == "AVX2" and not facts["amx_bf16"]
    assert "oneDNN on (capped at AVX2), no GPU" in describe_machine(facts)


@pytest.mark.parametrize(
    "amx, avx512, named",
    [
        (True, True, ", AMX-BF16"),  # Sapphire Rapids has both: AMX is what oneDNN uses
        (False, True, ", AVX512-BF16"),
        (False, False, ""),
    ],
)
def test_describe_machine_names_the_cpus_bfloat16_units(amx, avx512, named):
    facts = {"cpu": "Some CPU", "cpus": 2, "onednn": True, "gpus": 0}
    facts.update(amx_bf16=amx, avx512_bf16=avx512)
    assert describe_machine(facts) == f"Some CPU, 2 CPUs, oneDNN on{named}, no GPU"


@pytest.mark.parametrize(
    "flags, onednn, expected",
    [
        ({"avx2", "amx_bf16"}, True, True),
        ({"avx2", "amx_bf16"}, False, False),  # the bfloat16 kernels are oneDNN's
        ({"avx2", "avx512f", "avx512_bf16"}, True, True),  # dot-product instructions, no AMX
        ({"avx2", "avx512f", "avx512_bf16"}, False, False),
        ({"avx2", "avx512f", "avx512_vnni"}, True, False),  # int8 dot products only
    ],
)
def test_native_bfloat16_needs_bfloat16_units_and_onednn(monkeypatch, flags, onednn, expected):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(machine, "onednn_enabled", lambda: onednn)
    assert machine.native_bfloat16() is expected
