"""Helpers for the training tests: run scripts in fresh Python processes on this checkout.

Several tests need a fresh TensorFlow runtime (logical CPU devices, op determinism, signals,
multi-worker clusters), so they run `tests/training/scripts/*.py` with `sys.executable`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = TESTS_DIR / "scripts"

if importlib.util.find_spec("deepnets") is None:  # running from a checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))


def script_env(**extra: str) -> dict[str, str]:
    """The environment for a test script: this checkout and the test helpers importable."""
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    paths = [str(REPO_ROOT), str(TESTS_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_script(name: str, spec: dict[str, Any], **env: str) -> subprocess.Popen:
    """Starts `scripts/<name>` with `spec` as its JSON argument; stdout+stderr are captured."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS_DIR / name), json.dumps(spec)],
        env=script_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(REPO_ROOT),
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    """Waits for a script; returns (exit code, combined output)."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"script timed out after {timeout}s; output:\n{output}") from None
    return process.returncode, output


def result_of(output: str) -> dict[str, Any]:
    """The JSON a script printed on its `RESULT ` line."""
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"no RESULT line in script output:\n{output}")
