"""L2 weight decay in the step: `g + coefficient * w` on the conv/dense kernels' gradients.

That is the gradient an L2 term `coefficient * sum(||w||^2) / 2` in the loss would add, without
computing the term: the reported loss stays the data loss.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.parts.base import PartSetup, StepPart
from deepnets.training.optimization.optimizers import is_decayed


class L2Decay(StepPart):
    """Adds `coefficient * w` to the gradient of every kernel (rank >= 2; see `is_decayed`).

    Args:
        coefficient: the L2 coefficient, >= 0 (0: the step is unchanged).
    """

    def __init__(self, coefficient: float) -> None:
        if not float(coefficient) >= 0.0:
            raise ValueError(f"L2Decay coefficient must be >= 0, got {coefficient!r}")
        self.coefficient = float(coefficient)

    def build(self, setup: PartSetup) -> None:
        self._loss_scale = setup.loss_scale

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        if not self.coefficient:
            return grads
        # Each replica adds its share (the replicas' gradients are summed), scaled like the
        # loss under loss scaling.
        coefficient = self.coefficient / tf.distribute.get_replica_context().num_replicas_in_sync
        scale = self._loss_scale()
        if scale is not None:
            coefficient *= tf.cast(scale, tf.float32)
        return [
            g + tf.cast(coefficient, g.dtype) * tf.cast(v, g.dtype) if is_decayed(v) else g
            for g, v in zip(grads, variables, strict=True)
        ]
