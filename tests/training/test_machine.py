"""The machine facts that run.json records and the benchmarks print."""

import json
import subprocess
import sys

import pytest
from run_scripts import REPO_ROOT, script_env

from deepnets.training.machine import cpu_model, describe_machine


def test_the_cpu_model_is_the_one_proc_cpuinfo_names():
    with open("/proc/cpuinfo") as f:
        names = {line.split(":", 1)[1].strip() for line in f if line.startswith("model name")}
    assert cpu_model() in names


@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True)])
def test_the_onednn_fact_follows_the_setting_made_before_tensorflow_starts(setting, expected):
    code = "import json; from deepnets.training.machine import machine_facts; "
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
    assert facts["cpu"] == cpu_model() and facts["gpus"] == 0


def test_describe_machine_is_one_line_naming_each_fact():
    facts = {"cpu": "Some CPU", "cpus": 2, "onednn": False, "gpus": 0}
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN off, no GPU"
    facts.update(onednn=True, gpus=1)
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN on, 1 GPU"
    facts.update(onednn=None, gpus=4)
    assert describe_machine(facts) == "Some CPU, 2 CPUs, oneDNN unknown, 4 GPUs"
    assert describe_machine().startswith(cpu_model() + ", ")
