"""run.lock: one writer per run folder; readers never need it."""

import fcntl
import json
import os
import socket

import pytest

from deepnets.training.errors import RunFolderWarning, RunLockedError
from deepnets.training.run_folder.lock import RunLock


def hold_from_elsewhere(model_dir, holder):
    """Holds the folder's lock on another open file, as another process would."""
    os.makedirs(model_dir, exist_ok=True)
    fd = os.open(os.path.join(model_dir, "run.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps(holder).encode())
    return fd


def test_a_held_folder_is_refused_naming_the_holder(tmp_path):
    holder = {"host": socket.gethostname(), "pid": 4242, "started": "2026-11-29T10:00:00+00:00"}
    fd = hold_from_elsewhere(tmp_path, holder)
    try:
        with pytest.raises(
            RunLockedError, match=r"in use by another run \(pid 4242 on .*10:00"
        ) as info:
            RunLock(str(tmp_path)).acquire()
        assert info.value.holder["pid"] == 4242
    finally:
        os.close(fd)  # closing drops the lock, as the death of a process does
    with pytest.warns(RunFolderWarning, match="took over the lock of pid 4242"):
        with RunLock(str(tmp_path)):
            assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()


def test_holding_is_nested_in_a_process_and_released_empty(tmp_path):
    with RunLock(str(tmp_path)):
        with RunLock(str(tmp_path)):
            content = json.loads((tmp_path / "run.lock").read_text())
        assert content["pid"] == os.getpid() and content["host"] == socket.gethostname()
        assert (tmp_path / "run.lock").read_text()  # still held after the inner release
    assert (tmp_path / "run.lock").read_text() == ""


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    dead = {"host": socket.gethostname(), "pid": 2**22 + 12345, "started": "earlier"}
    (tmp_path / "run.lock").write_text(json.dumps(dead))
    with pytest.warns(
        RunFolderWarning, match=r"took over the lock of pid 4206649 .*no longer running"
    ):
        with RunLock(str(tmp_path)):
            assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()


def test_a_lock_naming_another_host_is_not_trusted(tmp_path):
    (tmp_path / "run.lock").write_text(json.dumps({"host": "elsewhere", "pid": 7, "started": "x"}))
    with pytest.raises(RunLockedError, match=r"cannot tell whether that run still lives.*delete"):
        RunLock(str(tmp_path)).acquire()
    assert json.loads((tmp_path / "run.lock").read_text())["host"] == "elsewhere"  # untouched
