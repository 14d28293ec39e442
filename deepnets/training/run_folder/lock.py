"""One writer per run folder: `run.lock`, held by the process that trains in the folder.

The lock is an advisory `flock` on `model_dir/run.lock`, whose content names the holder (host,
PID, start time, command). The kernel drops a `flock` when its process dies, however it dies, so
on one machine a lock can never outlive its holder: a second launch fails at once while the first
runs, and takes the folder over (with a warning naming the dead holder) after it has died. A lock
file naming another host is not trusted either way: this machine cannot tell whether that run
still lives, so the message says how to release it by hand.

Only the training chief takes the lock; readers (evaluate, export, predict) never need it.
Holding is counted per process, so nested `RunLock`s on one folder (`train` around `run_loop`)
share the one lock.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
import warnings
from types import TracebackType

from deepnets.training.errors import RunFolderWarning, RunLockedError
from deepnets.training.run_folder.layout import NAMES

_held: dict[str, list] = {}  # real path -> [file descriptor, nesting count]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict) -> str:
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}"
    )


class RunLock:
    """Holds `model_dir/run.lock` for the duration of a `with` block.

    Args:
        model_dir: the run folder (created if missing).

    Raises (on entering):
        RunLockedError: another live process holds the folder, or the lock names another host.
    """

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.path = os.path.join(model_dir, NAMES["lock_file"])

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _read_holder(self, fd: int) -> dict:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {"host": "?", "pid": "?", "started": f"(unreadable lock file {raw[:40]!r})"}

    def acquire(self) -> None:
        """Takes the lock (or counts one more holding by this process)."""
        os.makedirs(self.model_dir, exist_ok=True)
        key = os.path.realpath(self.path)
        if key in _held:
            _held[key][1] += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.model_dir} is in use by another run ({_describe(holder)}). Wait for it "
                "to end or stop it, or give this run another --model_dir.",
                holder,
            ) from None
        previous = self._read_holder(fd)
        host = socket.gethostname()
        if previous and previous.get("host") not in (host, "?"):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise RunLockedError(
                f"{self.path} says the folder is in use by {_describe(previous)}; this machine "
                f"({host}) cannot tell whether that run still lives. If it has ended, delete "
                f"{self.path} and run again.",
                previous,
            )
        if previous:
            pid = previous.get("pid")
            state = "no longer running" if isinstance(pid, int) and not _pid_alive(pid) else "gone"
            warnings.warn(
                f"{self.model_dir}: took over the lock of {_describe(previous)} ({state}).",
                RunFolderWarning,
                stacklevel=2,
            )
        holder = {
            "host": host,
            "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        os.fsync(fd)
        _held[key] = [fd, 1]

    def release(self) -> None:
        """Gives one holding back; the last one empties the file and drops the lock."""
        key = os.path.realpath(self.path)
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
        fd = entry[0]
        try:
            os.ftruncate(fd, 0)  # an empty lock file: free, and nobody to warn about later
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
