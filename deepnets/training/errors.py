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
