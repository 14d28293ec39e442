"""Version 0.2's `StepRunner` keyword options and what replaces each, for a clear `TypeError`.

The options moved into `StepSettings` (the steps' numbers) or became parts
(`deepnets.training.loop.parts`); a program written for 0.2 learns which from the error.
"""

from __future__ import annotations

from typing import Any

SETTINGS = (
    "steps_per_epoch",
    "global_batch_size",
    "num_classes",
    "total_steps",
    "label_smoothing",
    "mixed_precision",
    "jit_compile",
    "eval_flip",
    "eval_translate",
)
PARTS = {
    "l2_decay": "L2Decay(l2_decay)",
    "bn_bias_lr_multiplier": "BatchNormRateMultipliers(bias=..., scale=...)",
    "bn_scale_lr_multiplier": "BatchNormRateMultipliers(bias=..., scale=...)",
    "freeze_backbone_steps": "FrozenBackbone(steps, head_layer=...)",
    "head_layer": "FrozenBackbone(steps, head_layer=...) or BackboneOptimizer(fn, head_layer=...)",
    "backbone_optimizer_fn": "BackboneOptimizer(optimizer_fn, head_layer=...)",
    "log_gradient_norms": "GradientNorms()",
    "ema_decay": "EMA(decay)",
    "lookahead_steps": "Lookahead(steps, decay)",
    "lookahead_decay": "Lookahead(steps, decay)",
}


def check_removed_options(removed: dict[str, Any], settings: Any) -> None:
    """Raises a `TypeError` naming the replacement of the first removed option in `removed`, or
    when `settings` is missing.

    Args:
        removed: keyword arguments `StepRunner` no longer takes.
        settings: the `StepSettings` it was given (None: missing).
    """
    for name in removed:
        if name in SETTINGS:
            raise TypeError(
                f"StepRunner() takes {name}= in its settings now: "
                f"StepRunner(..., StepSettings({name}=..., ...))"
            )
        if name in PARTS:
            raise TypeError(
                f"StepRunner() no longer takes {name}=: pass "
                f"parts=[{PARTS[name]}] (deepnets.training.loop.parts)"
            )
        known = ", ".join(("settings", "eval_input_fn", "parts"))
        raise TypeError(f"StepRunner() got an unexpected keyword argument {name!r} (takes {known})")
    if settings is None:
        raise TypeError(
            "StepRunner() needs settings=StepSettings(steps_per_epoch=..., global_batch_size=..., "
            "num_classes=...)"
        )
