"""Is oneDNN right on this CPU for the convolutions of one model? Checked once, then cached.

Where deepnets turned oneDNN on by itself (`deepnets.cpu_kernels`), a kernel it brings could be
wrong on this CPU: on a 2-core AVX2-only AMD EPYC the weight gradient of a 1x1 stride-2
convolution with 3 or 4 input channels came out up to 97% off (and the same kernel is wrong on
an AMX Xeon when oneDNN is capped at AVX2 with `ONEDNN_MAX_CPU_ISA=AVX2`). So before training,
`deepnets-train` asks `wrong_convolution(model)`: the model's convolution shapes are checked
(`deepnets.training.runtime.kernel_check`, float32 with oneDNN against float64) in a process of
their own, started with `TF_ENABLE_ONEDNN_OPTS=1`, in seconds, and the verdicts are cached per
CPU model, CPU flags, oneDNN's ISA cap (`ONEDNN_MAX_CPU_ISA`, which picks other kernels) and
TensorFlow version; a shape checked once is never checked again on the
same machine. The cache lives in `$DEEPNETS_CACHE_DIR` (default `~/.cache/deepnets`).

The design: TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it starts, and the binaries
start it before their flags name the model; so the binary decides on the CPU alone at start
and, when the model turns out to have a wrong shape, restarts itself with oneDNN off
(`kept_off`), which is right and only slower, rather than refusing a command that can work.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from deepnets.cache import CACHE_VARIABLE as CACHE_VARIABLE  # re-exported: the tests set it
from deepnets.cache import cache_directory
from deepnets.cpu_kernels import (
    DECISION_VARIABLE,
    ONEDNN_VARIABLE,
    OPT_IN_VARIABLE,
    KernelDecision,
    cpu_flags,
    cpu_model,
    kernel_decision,
    onednn_enabled,
    onednn_isa_cap,
)
from deepnets.training.errors import CpuKernelError
from deepnets.training.runtime.kernel_check import Case, convolution_cases

_problems: dict[str, str | None] = {}  # kernel_problem's answers by model recipe, this process
CHECK_TIMEOUT_SECONDS = 600

# Runs the kernel check of some shapes in a fresh process with oneDNN on: {str(case): verdict}.
CheckShapes = Callable[[Sequence[Case]], dict[str, str]]


def cache_path() -> str:
    """This machine's verdict file: `<cache dir>/onednn-<hash of CPU model, CPU flags, oneDNN's
    ISA cap and TensorFlow version>.json`; the cache dir is `$DEEPNETS_CACHE_DIR` or
    `~/.cache/deepnets`."""
    directory = cache_directory()
    cap = f"isa cap {onednn_isa_cap()}"  # another cap runs other kernels: its own verdicts
    key = "\n".join([cpu_model(), " ".join(sorted(cpu_flags())), tf.__version__, cap])
    return os.path.join(directory, f"onednn-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json")


def read_verdicts() -> dict[str, str]:
    """The cached {shape: "ok" | "VARIES" | "WRONG"} of this machine ({} when none)."""
    try:
        with open(cache_path()) as f:
            return dict(json.load(f)["verdicts"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_verdicts(verdicts: dict[str, str]) -> None:
    path = cache_path()
    record = {"cpu": cpu_model(), "tensorflow": tf.__version__, "verdicts": verdicts}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(f.name, path)
    except OSError:  # a read-only home: the check runs again next time, nothing worse
        pass


def check_in_subprocess(cases: Sequence[Case]) -> dict[str, str]:
    """The verdicts of `cases` from `python -m deepnets.training.runtime.kernel_check`, started
    with oneDNN on (what this process runs cannot change once TensorFlow started).

    Raises:
        RuntimeError: the check did not finish or printed no verdicts (a kernel that crashes
            the process is one way).
    """
    env = {k: v for k, v in os.environ.items() if k not in (DECISION_VARIABLE, OPT_IN_VARIABLE)}
    env.update({ONEDNN_VARIABLE: "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    argument = json.dumps([str(case) for case in cases])
    command = [sys.executable, "-m", "deepnets.training.runtime.kernel_check", argument]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"the oneDNN kernel check took over {err.timeout:g} s") from err
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError) as err:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the oneDNN kernel check failed: {tail[0]}") from err


def verdicts_for(cases: Sequence[Case], check: CheckShapes | None = None) -> dict[str, str]:
    """{str(case): verdict} of `cases`: from the cache, checking (`check`, default
    `check_in_subprocess`) and caching only the shapes this machine has not checked yet."""
    cached = read_verdicts()
    missing = [case for case in cases if str(case) not in cached]
    if missing:
        cached.update((check or check_in_subprocess)(missing))
        _write_verdicts(cached)
    return {str(case): cached[str(case)] for case in cases}


def wrong_convolution(model: tf.keras.Model, check: CheckShapes | None = None) -> Case | None:
    """The first convolution of `model` whose oneDNN kernel is wrong on this CPU, when deepnets
    turned oneDNN on in this process (`deepnets.cpu_kernels`); None otherwise (oneDNN off,
    turned on by the user or by TensorFlow's own default, or every shape right).

    Args:
        model: the built model the run trains.
        check: runs the check of the shapes not cached yet (default `check_in_subprocess`).

    Raises:
        RuntimeError: the check failed (see `check_in_subprocess`).
    """
    decision = kernel_decision()
    if decision.by != "deepnets" or not decision.onednn or not onednn_enabled():
        return None
    cases = convolution_cases(model)
    verdicts = verdicts_for(cases, check)
    return next((case for case in cases if verdicts[str(case)] == "WRONG"), None)


def kernel_problem(recipe: Any) -> str | None:
    """Why oneDNN may not train the model `recipe` builds here (`problem_of` a wrong
    convolution, or the check's failure), or None; answered once per recipe in a process,
    building the model only where deepnets turned oneDNN on.

    Args:
        recipe: the run's `ModelRecipe` (anything with `build()` and a stable repr).
    """
    decision = kernel_decision()
    if decision.by != "deepnets" or not decision.onednn:
        return None
    key = repr(recipe)
    if key not in _problems:
        try:
            wrong = wrong_convolution(recipe.build())
            _problems[key] = None if wrong is None else problem_of(wrong)
        except RuntimeError as err:  # unchecked kernels are not trusted
            _problems[key] = str(err)
    return _problems[key]


def require_right_kernels(recipe: Any) -> None:
    """Raises `CpuKernelError` when `kernel_problem(recipe)` finds one (`deepnets-train`
    restarts itself with oneDNN off first; a program of its own cannot be restarted)."""
    problem = kernel_problem(recipe)
    if problem:
        raise CpuKernelError(
            f"{problem}; oneDNN is on because {OPT_IN_VARIABLE}=1 turned it on: start Python "
            f"with {ONEDNN_VARIABLE}=0 to train right (slower), or {ONEDNN_VARIABLE}=1 to force it"
        )


def kept_off(problem: str) -> KernelDecision:
    """The decision that keeps oneDNN off because of `problem` (e.g. "the kernel check found
    the convolution 1x1 stride 2, 3->8, 8x8 wrong on this CPU")."""
    return KernelDecision(False, "deepnets", f"kept off: {problem}")


def problem_of(case: Case) -> str:
    """What `kept_off` says of a convolution found wrong."""
    return f"the kernel check found the convolution {case} wrong on this CPU"
