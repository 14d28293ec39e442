"""Errors raised by the training loop."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite.

    The trainer raises it after the loop that produced the bad loss and before any checkpoint of
    that state is written, so `last_good_checkpoint` (if any) still holds finite weights.

    Attributes:
        first_step: first step (1-based) of the loop in which the loss was not finite.
        last_step: last step of that loop.
        loss: the loss value that was read.
        last_good_checkpoint: path of the newest checkpoint, or None if none was written yet.
    """

    def __init__(
        self,
        first_step: int,
        last_step: int,
        loss: float,
        last_good_checkpoint: str | None,
    ) -> None:
        self.first_step = first_step
        self.last_step = last_step
        self.loss = loss
        self.last_good_checkpoint = last_good_checkpoint
        where = (
            f"step {last_step}" if first_step == last_step else f"steps {first_step}-{last_step}"
        )
        if last_good_checkpoint:
            restart = f"the last good checkpoint is {last_good_checkpoint}"
        else:
            restart = "no checkpoint had been written yet"
        super().__init__(
            f"Training loss became {loss} in {where}; stopped without saving this state, "
            f"{restart}. Lower the learning rate, add warmup or check the input data."
        )


class RunFolderError(RuntimeError):
    """A problem with the run folder that stops a run; the message is one line saying what to do."""


class RunFolderWarning(UserWarning):
    """Something in the run folder was repaired or skipped (a stale lock, a broken checkpoint)."""


class RunLockedError(RunFolderError):
    """Another process holds the run folder (see `deepnets.training.run_folder.lock`).

    Attributes:
        holder: what the lock file says of the holder (host, pid, started), possibly empty.
    """

    def __init__(self, message: str, holder: dict) -> None:
        self.holder = holder
        super().__init__(message)


class NoReadableCheckpointError(RunFolderError):
    """The run folder has checkpoints, but none of them can be read."""


class OutputWriteError(RunFolderError):
    """Writing a file of the run folder failed (a full disk, a lost mount, no permission).

    Attributes:
        path: the file or folder that could not be written.
        reason: why, e.g. "No space left on device".
        last_good_checkpoint: the newest checkpoint, read back and found intact, or None.
    """

    def __init__(self, path: str, reason: str, last_good_checkpoint: str | None) -> None:
        self.path = path
        self.reason = reason
        self.last_good_checkpoint = last_good_checkpoint
        if last_good_checkpoint:
            state = f"the newest checkpoint {last_good_checkpoint} is intact: rerun to resume"
        else:
            state = "no intact checkpoint is in the folder yet"
        super().__init__(
            f"cannot write {path}: {reason}; the run stopped, {state} once it can write."
        )


class CpuKernelError(RuntimeError):
    """oneDNN, turned on by deepnets (`DEEPNETS_FAST_CPU_KERNELS=1`), computes a convolution
    of the model wrong on this CPU, or its kernel check failed: see
    `deepnets.training.runtime.kernel_verdicts`. The message says how to start instead."""
