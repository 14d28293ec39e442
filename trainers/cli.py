"""What the binaries share: one-line errors that name the flag, and quiet TensorFlow logs."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator

USAGE_EXIT_CODE = 2


def run_binary(main: Callable[[list[str]], None], *flag_modules: str) -> None:
    """`absl.app.run(main)`, with `--help` listing the flags defined in `flag_modules`.

    absl's `--help` lists the flags of the module that sys.argv[0] names, which for a console
    script is the generated wrapper: register the binary's flags for it.
    """
    from absl import app, flags

    for module in flag_modules:
        for flag in flags.FLAGS.get_flags_for_module(module):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


def quiet_tensorflow_logs() -> None:
    """Keep TensorFlow's C++ and Python INFO chatter out of the binaries' output.

    Call before TensorFlow is imported; warnings and errors still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def flag_message(err: BaseException) -> str:
    """Rewrite a library error so that it names the flag: TrainConfig.x=... -> --x=..."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"TrainConfig\.(\w+)\[", r"--\1[", text)
    return re.sub(r"TrainConfig\.(\w+)", r"--\1", text)


@contextlib.contextmanager
def cli_errors(program: str, flag: str | None = None) -> Iterator[None]:
    """Turn ValueError/TypeError inside the block into "program: error: ..." and exit status 2.

    Args:
        program: the binary's name, printed first.
        flag: the flag to blame when the message names none (e.g. "--model").
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        message = flag_message(err)
        if flag and not message.startswith("--") and not re.search(r"--\w+", message):
            message = f"{flag}: {message}"
        print(f"{program}: error: {message}", file=sys.stderr, flush=True)
        sys.exit(USAGE_EXIT_CODE)
