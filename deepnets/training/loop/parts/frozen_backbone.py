"""A frozen backbone: the first steps train the head alone, the backbone in inference mode.

The backbone's weights and its BatchNorm statistics stay as they were (e.g. ImageNet's) while a
new head learns; then the whole network trains.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from deepnets.training.loop.parts.base import Forward, PartSetup, StepPart
from deepnets.training.optimization.backbone import HEAD_LAYER, BackboneSplit


class FrozenBackbone(StepPart):
    """Trains only the layer `head_layer` for the first `steps` steps.

    Args:
        steps: the frozen steps, >= 0 (`frozen_steps`).
        head_layer: the head's layer name (see `BackboneSplit`).
    """

    def __init__(self, steps: int, head_layer: str = HEAD_LAYER) -> None:
        if int(steps) < 0:
            raise ValueError(f"FrozenBackbone steps must be >= 0, got {steps!r}")
        self.frozen_steps = int(steps)
        self.head_layer = head_layer

    def build(self, setup: PartSetup) -> None:
        self.split = BackboneSplit(setup.model, self.head_layer)

    def trained(self, frozen: bool) -> tuple[Forward, list[Any]] | None:
        if not frozen:
            return None
        return self._head_alone, self.split.head_variables

    def _head_alone(self, images: tf.Tensor) -> tf.Tensor:
        # the backbone in inference mode: BatchNorm keeps its statistics
        features = self.split.features(images, training=False)
        return self.split.head(features, training=True)
