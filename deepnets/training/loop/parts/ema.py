"""EMA: a moving average of the weights, evaluated, checkpointed, resumed and exported.

The average and its model are `deepnets.training.optimization.averaging.WeightAverage`'s; this
part updates it after every step, saves its model as the checkpoint's "ema_model" and hands it to
evaluation and export.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.parts.base import PartSetup, StepPart
from deepnets.training.optimization.averaging import WeightAverage

keras = tf.keras


class EMA(StepPart):
    """Keeps an exponential moving average of the weights (see `WeightAverage`).

    Args:
        decay: the average's decay per step, in (0, 1), e.g. 0.999.
    """

    def __init__(self, decay: float) -> None:
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay!r}")
        self.decay = float(decay)

    def build(self, setup: PartSetup) -> None:
        self.average = WeightAverage(setup.model, setup.model_fn, self.decay)

    def after_update(self, step: tf.Tensor) -> None:
        self.average.update(step)

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"ema_model": self.average.model}  # brought up to date by `sync`

    def restored(self) -> None:
        self.average.from_model()

    def sync(self) -> None:
        self.average.to_model()

    def export_model(self, model: keras.Model) -> keras.Model:
        return self.average.model
