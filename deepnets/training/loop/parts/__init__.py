"""The training options as parts of the step, one file each (see `base.StepPart`).

    runner = StepRunner(strategy, model_fn, optimizer_fn, input_fn, settings,
                        parts=[L2Decay(5e-4), EMA(0.999)])

Adding an option is adding a part: a file here and its test (docs/adding-a-training-option.md).
"""

from deepnets.training.loop.parts.backbone_optimizer import BackboneOptimizer
from deepnets.training.loop.parts.base import PartSetup, StepPart
from deepnets.training.loop.parts.bn_rate_multipliers import BatchNormRateMultipliers
from deepnets.training.loop.parts.ema import EMA
from deepnets.training.loop.parts.frozen_backbone import FrozenBackbone
from deepnets.training.loop.parts.gradient_norms import GradientNorms
from deepnets.training.loop.parts.l2_decay import L2Decay
from deepnets.training.loop.parts.lookahead import Lookahead

__all__ = [
    "EMA",
    "BackboneOptimizer",
    "BatchNormRateMultipliers",
    "FrozenBackbone",
    "GradientNorms",
    "L2Decay",
    "Lookahead",
    "PartSetup",
    "StepPart",
]
