"""airbench's lookahead: the weights pulled back to slow weights every few steps.

The slow weights and the schedule are `deepnets.training.optimization.averaging.Lookahead`'s;
this part updates them after every step and saves them as the checkpoint's "lookahead".
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.parts.base import PartSetup, StepPart
from deepnets.training.optimization import averaging


class Lookahead(StepPart):
    """Pulls the weights back every `steps` steps (needs the run's `total_steps`).

    Args:
        steps: steps between pulls (airbench: 5), >= 1.
        decay: the per-step decay at the end of the run (airbench: 0.95), in (0, 1).
    """

    def __init__(self, steps: int, decay: float = 0.95) -> None:
        if int(steps) < 1:
            raise ValueError(f"Lookahead steps must be a positive number of steps, got {steps!r}")
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"Lookahead decay must be in (0, 1), got {decay!r}")
        self.steps = int(steps)
        self.decay = float(decay)

    def build(self, setup: PartSetup) -> None:
        if setup.total_steps is None:
            raise ValueError(
                "Lookahead needs total_steps (the step the run ends at): "
                "StepSettings(total_steps=...)"
            )
        self.lookahead = averaging.Lookahead(setup.model, self.steps, self.decay, setup.total_steps)

    def after_update(self, step: tf.Tensor) -> None:
        self.lookahead.update(step)

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"lookahead": self.lookahead.state}
