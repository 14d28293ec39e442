"""Writing files so that a kill at any moment leaves the old file or the new one, never half.

The new content goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target (`os.replace` is atomic within one file system).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it replaces `path`, else it is removed.

    Args:
        path: the file to write.

    Yields:
        A path to write the new content to (same folder, same file system).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder
    )
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield temporary
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
