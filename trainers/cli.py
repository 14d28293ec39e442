"""What the binaries share: running under absl, quiet logs, and one-line errors naming the flag."""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import NoReturn

USAGE_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1
# Whether a binary ends its process as soon as it is done (`end_process`). Off where several
# binaries run one after another in one process (tests/one_process.py).
END_PROCESS_WHEN_DONE = True


def run_binary(main: Callable[[list[str]], None], *flag_modules: str) -> None:
    """`absl.app.run(main)`, with `--help` listing the flags defined in `flag_modules`; then
    the process ends at once with the binary's exit status (`end_process`).

    absl's `--help` lists the flags of the module that sys.argv[0] names, which for a console
    script is the generated wrapper: register the binary's flags for it.
    """
    from absl import app, flags

    for module in flag_modules:
        for flag in flags.FLAGS.get_flags_for_module(module):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    try:
        app.run(main)
    except SystemExit as done:
        if not END_PROCESS_WHEN_DONE:
            raise
        end_process(done.code)


def end_process(code: object) -> NoReturn:
    """Ends the process as `sys.exit(code)` would, less Python's teardown of every module and
    object: with TensorFlow loaded, that teardown takes 1-2 s at each exit and writes nothing.

    The exit handlers (`atexit`: logging's flush among them) still run and the output streams
    are flushed; every file deepnets writes is closed by then. Where a thread other than this
    one is still running, the exit is the ordinary one, which waits for it.

    Args:
        code: `SystemExit.code`: None (status 0), a status, or a message (printed; status 1).
    """
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.current_thread()
    ):
        sys.exit(code)
    if code is None or isinstance(code, int):
        status = code or 0
    else:
        print(code, file=sys.stderr)
        status = FAILURE_EXIT_CODE
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def quiet_tensorflow_logs(program: str) -> None:
    """Keep TensorFlow's C++ and Python INFO chatter out of the binaries' output, and print
    deepnets' own warnings (a skipped checkpoint, a stale lock taken over) as one line each.

    Call before TensorFlow is imported; warnings and errors still show.
    """

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if category.__module__.startswith("deepnets"):
            print(f"{program}: warning: {message}", file=sys.stderr, flush=True)
        else:
            previous(message, category, filename, lineno, file, line)

    previous = warnings.showwarning
    warnings.showwarning = show
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


# Modules that TensorFlow's own import pulls in whenever they are installed, for features no
# binary uses, with the files that import them: JAX for TensorFlow Lite's converter from JAX
# functions and for a shim of Keras' Orbax callback, matplotlib for Keras' gallery plots
# (pyplot, and the package itself, which Python imports first, and its patches). JAX and pyplot
# cost about 1.2 s of every launch on a slowed 2-core Xeon, the rest of matplotlib 0.09 s more
# (docs/performance.md); the binaries draw on matplotlib's Agg canvas, not pyplot, and import
# matplotlib when they draw.
_GALLERIES = (
    "keras/src/visualization/plot_image_gallery.py",
    "keras/src/visualization/plot_bounding_box_gallery.py",
)
UNUSED_IMPORTS = {
    "jax": ("tensorflow/lite/python/util.py", "keras/src/callbacks/orbax_checkpoint.py"),
    "matplotlib": _GALLERIES,
    "matplotlib.pyplot": _GALLERIES,
}


class _SkipUnusedImports(importlib.abc.MetaPathFinder):
    """Answers "not installed" when a module of `UNUSED_IMPORTS` is imported by a file named
    with it, and stays out of the way of every other import, of those modules too."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        importers = UNUSED_IMPORTS.get(name)
        if importers is None:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename.replace(os.sep, "/")
            if filename.endswith(importers):
                raise ModuleNotFoundError(f"{name} is not imported for {filename}", name=name)
            frame = frame.f_back
        return None


def skip_unused_imports() -> None:
    """Keeps TensorFlow's import from loading JAX and matplotlib (`UNUSED_IMPORTS`), which it
    imports whenever they are installed and the binaries never use: each launch starts faster.

    Only those imports by the files named with them are refused, and those files expect it
    (TensorFlow Lite then has no converter from JAX, Keras no gallery plot). Anything else, the
    binary's own code included, imports JAX or matplotlib as usual. Call before TensorFlow is
    imported.
    """
    if not any(isinstance(finder, _SkipUnusedImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipUnusedImports())


def use_fast_cpu_kernels() -> None:
    """Asks `import deepnets` to turn TensorFlow's oneDNN kernels on where TensorFlow would
    leave them off (x86 with AVX2, without AVX512-VNNI/BF16 or AMX) and the user has not set
    `TF_ENABLE_ONEDNN_OPTS` either way: see `deepnets.cpu_kernels`.

    Call before anything imports deepnets or TensorFlow; then `keep_right_kernels` once the
    model is known.
    """
    if not {"deepnets", "tensorflow"} & set(sys.modules):  # later, it would only leak to children
        os.environ.setdefault("DEEPNETS_FAST_CPU_KERNELS", "1")  # deepnets.cpu_kernels reads it


def keep_right_kernels(program: str, recipe: object) -> None:
    """Restarts this binary with oneDNN off when deepnets turned it on and the model `recipe`
    builds has a convolution whose oneDNN kernel the kernel check finds wrong on this CPU, or
    the check fails (`deepnets.training.runtime.kernel_verdicts`), saying so in one line.

    A restart, not a refusal: with oneDNN off the same command trains right, only slower; and
    TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` only when it starts.
    """
    from deepnets.cpu_kernels import record
    from deepnets.training import kept_off, kernel_problem

    problem = kernel_problem(recipe)
    if problem is None:
        return
    print(
        f"{program}: oneDNN kept off: {problem}; restarting with TF_ENABLE_ONEDNN_OPTS=0 "
        "(TF_ENABLE_ONEDNN_OPTS=1 forces it on).",
        file=sys.stderr,
        flush=True,
    )
    record(kept_off(problem))
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def fail(program: str, message: str) -> NoReturn:
    """Prints "program: error: message" to stderr and exits with the usage status (2)."""
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(USAGE_EXIT_CODE)


def check_flags(
    program: str,
    argv: list[str],
    *,
    choices: dict[str, Iterable[str]] | None = None,
    positive: Iterable[str] = (),
) -> None:
    """Fails (`fail`) on positional arguments, on a list flag naming a value outside its
    `choices` ({flag: allowed values}), or on a `positive` integer flag below 1."""
    from absl import flags

    if len(argv) > 1:
        fail(program, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    for name, allowed in (choices or {}).items():
        allowed = list(allowed)
        unknown = [v for v in flags.FLAGS[name].value if v not in allowed]
        if unknown:
            fail(program, f"--{name}: unknown {unknown}; choose from {', '.join(allowed)}")
    for name in positive:
        if flags.FLAGS[name].value < 1:
            fail(program, f"--{name}={flags.FLAGS[name].value}: must be a positive integer")


def error_message(err: BaseException, flag: str | None = None) -> str:
    """The line to print for `err`, naming the flag to blame.

    A `ConfigError` names its own field, which is the flag of the same name; another argument
    error or a plain ValueError/TypeError/OSError is blamed on `flag` when one is given.
    """
    from deepnets.checks import ArgumentError
    from deepnets.training import ConfigError

    if isinstance(err, ConfigError):
        return err.describe(f"--{err.name}")
    if isinstance(err, ArgumentError):
        text = err.describe()
    else:
        lines = str(err).strip().splitlines()
        text = lines[0] if lines else type(err).__name__
    return f"{flag}: {text}" if flag else text


@contextlib.contextmanager
def cli_errors(program: str, flag: str | None = None) -> Iterator[None]:
    """Turns an error inside the block into one line: bad input (ValueError, TypeError,
    OSError) exits with status 2, a run-folder problem (`RunFolderError`: a folder in use, a
    full disk, no readable checkpoint) with status 1.

    Args:
        program: the binary's name, printed first.
        flag: the flag to blame for bad input that does not name its own (e.g. "--model_dir").
    """
    from deepnets.training import RunFolderError

    try:
        yield
    except RunFolderError as err:
        print(f"{program}: error: {err}", file=sys.stderr, flush=True)
        sys.exit(FAILURE_EXIT_CODE)
    except (ValueError, TypeError, OSError) as err:
        fail(program, error_message(err, flag))
