"""Several runs of the absl binaries in one Python process: TensorFlow starts once for all of
them instead of once each (several seconds a start on a loaded 2-core machine).

Each run goes through the binary's own `run()` (absl's `app.run`: flag parsing, its usage
errors, the exit status), with its stdout and stderr captured apart; an exception that would
have ended the process prints its traceback into that run's stderr, as it would have.
"""

import json
import os
import subprocess
import sys

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}

_DRIVER = """
import contextlib, importlib, io, json, sys, traceback
from absl import app, flags

import trainers.cli

trainers.cli.END_PROCESS_WHEN_DONE = False  # each binary returns here, not ending the process
results = []
for module_name, args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module = importlib.import_module(module_name)
            flags.FLAGS.unparse_flags()  # each run starts from the defaults
            app._register_and_parse_flags_with_usage.done = False  # absl parses once a process
            sys.argv = [module_name, *args]
            module.run()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
    unused = sorted(set(trainers.cli.UNUSED_IMPORTS) & set(sys.modules))
    drew = "matplotlib.figure" in sys.modules
    results.append([code, out.getvalue(), err.getvalue(), unused, drew])
print(json.dumps(results), file=sys.__stdout__)  # the last line
"""


def run_binaries(*calls, env=None, timeout=900):
    """Runs each (module, args) of `calls` in turn in one fresh Python process.

    The binaries of one call list must be able to share a process: their flags must not clash
    (deepnets-evaluate and deepnets-predict both define --batch_size; deepnets-train and the
    model-source binaries both define --model_dir), and a flag one of them requires holds for
    the runs after it (deepnets-export's --output_dir: put it last).

    Args:
        calls: (module, [arguments]) pairs, e.g. ("trainers.evaluate", ["--model_dir=run"]).
        env: the environment (default: this one, with TensorFlow's C++ logs quiet).
        timeout: seconds for all of them together.

    Returns:
        One `subprocess.CompletedProcess` per call: its exit status, stdout and stderr; and
        as `unused_imports`, those of `trainers.cli.UNUSED_IMPORTS` loaded in the process by
        the end of the call; as `loaded_figures`, whether matplotlib's figures were loaded by
        then (deepnets imports them only to draw).
    """
    calls = [(module, [str(a) for a in args]) for module, args in calls]
    process = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = []
    for (module, args), (code, out, err, unused, drew) in zip(
        calls, json.loads(process.stdout.splitlines()[-1]), strict=True
    ):
        results.append(subprocess.CompletedProcess([module, *args], code, out, err))
        results[-1].unused_imports = unused
        results[-1].loaded_figures = drew
    return results
