"""Writing files and folders so that a kill at any moment leaves the old one or the new one.

A file: the new content goes to a temporary file in the same folder, is flushed to disk, then
renamed over the target (`os.replace` is atomic within one file system). A folder (a SavedModel):
the new one is written beside it, the old one renamed aside, the new one renamed into place,
the old one deleted; `recover_leftovers` puts the old one back if a kill fell between the two
renames, and deletes what a killed writer left half-written.

Each write passes the fault points `<name>.written` (the new content is complete, not yet in
place) and, for folders, `<name>.swapping` (the old one is aside): see
`deepnets.training.runtime.faults`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from deepnets.training.runtime.faults import fault_point

_PARTIAL = ".partial-"
_PREVIOUS = ".previous-"


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it replaces `path`, else it is removed.

    Args:
        path: the file to write.
        suffix: ending of the temporary name (some writers insist on one, e.g. ".keras").

    Yields:
        A path to write the new content to (same folder, same file system).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}", dir=folder
    )
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield temporary
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        fault_point(f"{os.path.basename(path)}.written", path)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_text(path: str, text: str) -> str:
    """Writes `text` to `path` atomically; returns `path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "w") as f:
            f.write(text)
    return path


def atomic_write_png(figure: Any, path: str, dpi: float | None = None) -> str:
    """Writes a matplotlib `figure` to `path` as a PNG atomically; returns `path`.

    `dpi` None keeps the figure's own resolution.
    """
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", **({} if dpi is None else {"dpi": dpi}))
    return path


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a path beside `path` for a new folder; on success the new folder replaces `path`.

    Args:
        path: the folder to (re)write, e.g. `model_dir/saved_model`.

    Yields:
        A path that does not exist yet; the caller creates the folder there.
    """
    partial = f"{path}{_PARTIAL}{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    name = os.path.basename(path)
    try:
        yield partial
        fault_point(f"{name}.written", path)
        previous = None
        if os.path.exists(path):
            previous = f"{path}{_PREVIOUS}{os.getpid()}"
            os.rename(path, previous)
            fault_point(f"{name}.swapping", path)
        os.rename(partial, path)
        if previous:
            shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def recover_leftovers(folder: str) -> list[str]:
    """Cleans up after writers killed in `folder`: temporary files and half-written folders go,
    a folder renamed aside before its replacement was in place comes back.

    Call it only while no other process writes in `folder` (under the run's lock).

    Returns:
        What was removed or put back, for a log line.
    """
    done = []
    for previous in sorted(glob.glob(os.path.join(glob.escape(folder), f"*{_PREVIOUS}*"))):
        target = previous.split(_PREVIOUS)[0]
        if os.path.exists(target):
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(previous, target)
        done.append(previous)
    leftovers = glob.glob(os.path.join(glob.escape(folder), f"*{_PARTIAL}*"))
    leftovers += glob.glob(os.path.join(glob.escape(folder), ".*.tmp*"))
    for leftover in sorted(leftovers):
        if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            os.remove(leftover)
        done.append(leftover)
    return done


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
