"""Named fault points, so that tests can kill or fail a real run at a chosen moment.

The code that writes a run folder calls `fault_point("checkpoint.written")` and the like at the
moments that matter. Normally that does nothing. When the environment variable
`DEEPNETS_FAULTS` names the point, e.g.

    DEEPNETS_FAULTS="checkpoint.written@2=kill,final.keras.written=enospc"

the point's action runs at its n-th passage (`@n`, default the first): `kill` ends the process
with SIGKILL (nothing is flushed, as in a crash or an OOM kill), `enospc` raises the OSError a full
disk gives, `fail` raises a RuntimeError.
"""

from __future__ import annotations

import collections
import errno
import os
import signal

ENVIRONMENT_VARIABLE = "DEEPNETS_FAULTS"
ACTIONS = ("kill", "enospc", "fail")

_passages: collections.Counter = collections.Counter()


def _planned() -> dict[str, tuple[int, str]]:
    spec = os.environ.get(ENVIRONMENT_VARIABLE, "")
    planned = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, action = item.partition("=")
        name, _, nth = point.partition("@")
        if action not in ACTIONS:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: {item!r}: action must be one of {ACTIONS}")
        planned[name] = (int(nth or 1), action)
    return planned


def fault_point(name: str, path: str | None = None) -> None:
    """Runs the fault planned for this point and passage, if any (see the module docstring).

    Args:
        name: the point, e.g. "checkpoint.written".
        path: the file being written there (named by the injected OSError).
    """
    if ENVIRONMENT_VARIABLE not in os.environ:
        return
    _passages[name] += 1
    nth, action = _planned().get(name, (0, ""))
    if _passages[name] != nth:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    raise RuntimeError(f"fault injected at {name}")
