"""The one place that maps a config's training options to the step's parts and settings.

`make_runner` builds its `StepRunner` from `step_settings(plan)` and `parts_from_config(plan,
schedule)`. A new option adds its part here, with the config field that turns it on.
"""

from __future__ import annotations

import tensorflow as tf

from deepnets.training.loop.parts import (
    EMA,
    BackboneOptimizer,
    BatchNormRateMultipliers,
    FrozenBackbone,
    GradientNorms,
    L2Decay,
    Lookahead,
    StepPart,
)
from deepnets.training.loop.step import StepSettings
from deepnets.training.optimization.backbone import ScaledSchedule
from deepnets.training.optimization.optimizers import make_optimizer
from deepnets.training.run.plan import RunPlan

keras = tf.keras


def step_settings(plan: RunPlan) -> StepSettings:
    """The `StepSettings` of a planned run."""
    cfg = plan.config
    return StepSettings(
        steps_per_epoch=plan.loop.steps_per_epoch,
        global_batch_size=cfg.global_batch_size,
        num_classes=plan.dataset.num_classes,
        total_steps=plan.loop.total_steps,
        label_smoothing=cfg.label_smoothing,
        mixed_precision=plan.mixed_precision,
        jit_compile=plan.jit_compile,
        eval_flip=cfg.eval_flip,
        eval_translate=cfg.eval_translate,
    )


def loss_scaling(plan: RunPlan) -> bool:
    """Whether the run's optimizers scale the loss (mixed_float16)."""
    return plan.mixed_precision == "mixed_float16"


def parts_from_config(
    plan: RunPlan, schedule: keras.optimizers.schedules.LearningRateSchedule
) -> list[StepPart]:
    """The parts a planned run's config turns on, in the order the step applies them.

    Args:
        plan: the run's plan (its config, and the frozen steps it resolved).
        schedule: the run's learning-rate schedule (a backbone optimizer's is scaled from it).

    Returns:
        The parts: L2 decay, BatchNorm rate multipliers, a frozen backbone, a backbone
        optimizer, gradient norms, lookahead, then the moving average (which averages the
        weights lookahead has pulled back).
    """
    cfg = plan.config
    parts: list[StepPart] = []
    if cfg.resolved_weight_decay_mode == "l2" and cfg.weight_decay:
        parts.append(L2Decay(cfg.weight_decay))
    if cfg.bn_bias_lr_multiplier != 1.0 or cfg.bn_scale_lr_multiplier != 1.0:
        parts.append(
            BatchNormRateMultipliers(cfg.bn_bias_lr_multiplier, cfg.bn_scale_lr_multiplier)
        )
    if plan.freeze_backbone_steps:
        parts.append(FrozenBackbone(plan.freeze_backbone_steps))
    if cfg.backbone_learning_rate_multiplier != 1.0:
        backbone_schedule = ScaledSchedule(
            schedule, cfg.backbone_learning_rate_multiplier, offset=plan.freeze_backbone_steps
        )
        scaling = loss_scaling(plan)
        parts.append(
            BackboneOptimizer(
                lambda variables: make_optimizer(cfg, backbone_schedule, variables, scaling)
            )
        )
    if cfg.log_gradient_norms:
        parts.append(GradientNorms())
    if cfg.lookahead_steps:
        parts.append(Lookahead(cfg.lookahead_steps, cfg.lookahead_decay))
    if cfg.ema_decay:
        parts.append(EMA(cfg.ema_decay))
    return parts
