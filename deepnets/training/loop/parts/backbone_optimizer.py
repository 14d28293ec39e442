"""A backbone optimizer: the backbone's variables updated by an optimizer of their own.

Fine-tuning's slower backbone: the head keeps the runner's optimizer and the backbone gets,
e.g., the same one at a tenth of the learning rate (`ScaledSchedule`).
"""

from __future__ import annotations

from typing import Any

from deepnets.training.loop.parts.base import OptimizerFn, PartSetup, StepPart, built_optimizer
from deepnets.training.optimization.backbone import HEAD_LAYER, BackboneSplit


class BackboneOptimizer(StepPart):
    """Updates every variable but the head's with `optimizer_fn`'s optimizer.

    Args:
        optimizer_fn: `variables -> optimizer` for the backbone's variables (built on them).
        head_layer: the head's layer name (see `BackboneSplit`).
    """

    def __init__(self, optimizer_fn: OptimizerFn, head_layer: str = HEAD_LAYER) -> None:
        self.optimizer_fn = optimizer_fn
        self.head_layer = head_layer

    def build(self, setup: PartSetup) -> None:
        self.split = BackboneSplit(setup.model, self.head_layer)
        self.optimizer = built_optimizer(self.optimizer_fn, self.split.backbone_variables)
        self._backbone = {id(v) for v in self.split.backbone_variables}

    def optimizer_variables(self, variables: list[Any]) -> list[Any]:
        return self.split.head_variables

    def apply_gradients(self, pairs: list[tuple[Any, Any]], frozen: bool) -> list[tuple[Any, Any]]:
        if frozen:  # only the head's gradients: the runner's optimizer takes them
            return pairs
        self.optimizer.apply_gradients([p for p in pairs if id(p[1]) in self._backbone])
        return [p for p in pairs if id(p[1]) not in self._backbone]

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"backbone_optimizer": self.optimizer}
