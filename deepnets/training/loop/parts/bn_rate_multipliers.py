"""airbench's BatchNorm learning rates: the offsets' and scales' gradients multiplied.

Under SGD (with or without momentum) multiplying a variable's gradient is multiplying its
learning rate; a multiplier of 0 keeps the variable at its initial value under any optimizer
(airbench's BatchNorm, whose scale is fixed at 1).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.parts.base import PartSetup, StepPart
from deepnets.training.optimization.optimizers import batch_norm_parameters


class BatchNormRateMultipliers(StepPart):
    """Multiplies the gradients of every BatchNormalization layer's offset and scale.

    Args:
        bias: the multiplier of the offsets' (beta) gradients, >= 0.
        scale: the multiplier of the scales' (gamma) gradients, >= 0.
    """

    def __init__(self, bias: float = 1.0, scale: float = 1.0) -> None:
        for name, value in (("bias", bias), ("scale", scale)):
            if not float(value) >= 0.0:
                raise ValueError(
                    f"BatchNormRateMultipliers {name} must be >= 0 (0 freezes), got {value!r}"
                )
        self.bias = float(bias)
        self.scale = float(scale)

    def build(self, setup: PartSetup) -> None:
        # variable id -> gradient multiplier, for the variables whose multiplier is not 1
        self._multipliers = {
            id(v): multiplier
            for which, multiplier in (("beta", self.bias), ("gamma", self.scale))
            if multiplier != 1.0
            for v in batch_norm_parameters(setup.model, which)
        }

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        if not self._multipliers:
            return grads
        return [
            g * tf.cast(self._multipliers[id(v)], g.dtype) if id(v) in self._multipliers else g
            for g, v in zip(grads, variables, strict=True)
        ]
