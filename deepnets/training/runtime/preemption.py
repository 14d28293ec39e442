"""Graceful stop on SIGTERM (what schedulers and preemptible VMs send before killing a job).

The handler only sets a flag; the trainer checks it after each loop, writes a checkpoint at the
current step and returns normally, so the process can exit with status 0 and resume later.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class SigtermFlag:
    """Context manager that records SIGTERM instead of dying, then restores the old handler.

    Signal handlers can only be installed from the main thread; elsewhere this does nothing and
    `requested` stays False.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.requested = True

    def __enter__(self) -> SigtermFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
