"""Optimizers, weight decay and the classification loss.

Weight decay only touches conv and dense kernels: a trainable variable is decayed when it has
rank >= 2. Biases and BatchNorm gamma/beta are vectors (rank 1) and are left alone, whichever
model the loop trains (the rule timm and most ResNet recipes use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from deepnets.training.config.fields import OPTIMIZERS
from deepnets.training.optimization.muon import Muon

if TYPE_CHECKING:
    from deepnets.training.config import TrainConfig

keras = tf.keras


def is_decayed(variable: Any) -> bool:
    """Whether weight decay applies to `variable` (conv/dense kernels: rank >= 2).

    Args:
        variable: a Keras or TF variable.

    Returns:
        True for kernels, False for biases, BatchNorm parameters and other vectors/scalars.
    """
    return len(variable.shape) >= 2


def batch_norm_parameters(model: keras.Model, which: str) -> list[Any]:
    """The offsets (`which="beta"`) or scales (`"gamma"`) of every BatchNormalization layer in
    `model`, nested ones included (layers without them are skipped)."""
    has = {"beta": "center", "gamma": "scale"}[which]
    return [
        getattr(layer, which)
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization) and getattr(layer, has)
    ]


def decayed_variables(variables: Sequence[Any]) -> list[Any]:
    """The subset of `variables` that weight decay applies to (see `is_decayed`)."""
    return [v for v in variables if is_decayed(v)]


def l2_weight_decay_loss(variables: Sequence[Any], weight_decay: float) -> tf.Tensor:
    """`weight_decay * sum(||w||^2) / 2` over the decayed variables.

    Its gradient is `weight_decay * w`, the same update as PyTorch's SGD `weight_decay`.

    Args:
        variables: candidate variables (usually `model.trainable_variables`).
        weight_decay: the coefficient.

    Returns:
        A float32 scalar (0 when nothing is decayed or `weight_decay` is 0).
    """
    kernels = decayed_variables(variables)
    if not kernels or weight_decay == 0:
        return tf.constant(0.0, tf.float32)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in kernels])


def make_optimizer(
    cfg: TrainConfig,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    variables: Sequence[Any],
    loss_scaling: bool | None = None,
) -> keras.optimizers.Optimizer:
    """Creates and builds the optimizer that `cfg.optimizer` names.

    Call it inside `strategy.scope()`: building here, eagerly, creates the slot variables
    (momentum, Adam moments) as distributed variables before the first step and before a
    checkpoint restore, so that they are restored too.

    Args:
        cfg: the run's config (optimizer, momentum, nesterov, betas, weight decay, precision).
        learning_rate: a float or a schedule.
        variables: the trainable variables the optimizer will update.
        loss_scaling: wrap it in a `LossScaleOptimizer` (the run computes in float16); None:
            when `cfg.mixed_precision` is "mixed_float16" (a run plan resolves "auto" into
            `RunPlan.mixed_precision`, and passes that).

    Returns:
        A built Keras optimizer, wrapped in a `LossScaleOptimizer` with loss scaling.

    Raises:
        ValueError: for an unknown optimizer name.
    """
    decoupled = cfg.resolved_weight_decay_mode == "decoupled" and cfg.weight_decay > 0
    common = {
        "weight_decay": cfg.weight_decay if decoupled else None,
        "global_clipnorm": cfg.clip_grad_norm,
    }
    adam_like = {"beta_1": cfg.beta_1, "beta_2": cfg.beta_2, "epsilon": cfg.epsilon}
    if cfg.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            learning_rate, momentum=cfg.momentum, nesterov=cfg.nesterov, **common
        )
    elif cfg.optimizer in ("adam", "adamw", "nadam", "lamb"):
        optimizer_class = {
            "adam": keras.optimizers.Adam,
            "adamw": keras.optimizers.AdamW,
            "nadam": keras.optimizers.Nadam,
            "lamb": keras.optimizers.Lamb,
        }[cfg.optimizer]
        optimizer = optimizer_class(learning_rate, **adam_like, **common)
    elif cfg.optimizer == "lion":
        optimizer = keras.optimizers.Lion(
            learning_rate, beta_1=cfg.beta_1, beta_2=cfg.beta_2, **common
        )
    elif cfg.optimizer == "muon":
        # Newton-Schulz orthogonalized momentum for the conv and hidden dense kernels, AdamW
        # for the vectors (biases, BatchNorm) and the classifier head (see
        # deepnets.training.optimization.muon).
        decay = common.pop("weight_decay") or 0.0
        optimizer = Muon(
            learning_rate,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=decay,
            adam_weight_decay=0.0,
            adam_beta_1=cfg.beta_1,
            adam_beta_2=cfg.beta_2,
            epsilon=cfg.epsilon,
            **common,
        )
    else:
        raise ValueError(
            f"TrainConfig.optimizer={cfg.optimizer!r} is invalid: expected one of "
            f"{', '.join(repr(o) for o in OPTIMIZERS)}."
        )
    # Must precede build(): Keras freezes the exclusion list when the optimizer is built.
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if not is_decayed(v)])
    if loss_scaling is None:
        loss_scaling = cfg.mixed_precision == "mixed_float16"
    if loss_scaling:
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    optimizer.build(list(variables))
    return optimizer


def classification_loss(
    labels: tf.Tensor, logits: tf.Tensor, label_smoothing: float = 0.0
) -> tf.Tensor:
    """Per-example softmax cross-entropy from labels and logits.

    Args:
        labels: integer class ids [batch], or class probabilities [batch, classes] (what
            MixUp and CutMix make).
        logits: unnormalized scores, shape [batch, classes] (cast to float32).
        label_smoothing: mixes the target with the uniform distribution by this amount.

    Returns:
        float32 losses of shape [batch].
    """
    logits = tf.cast(logits, tf.float32)
    if labels.shape.rank == 2:
        targets = tf.cast(labels, tf.float32)
    elif not label_smoothing:
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        targets = tf.one_hot(labels, tf.shape(logits)[-1], dtype=tf.float32)
    if label_smoothing:
        uniform = 1.0 / tf.cast(tf.shape(logits)[-1], tf.float32)
        targets = targets * (1.0 - label_smoothing) + uniform * label_smoothing
    return tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits)
