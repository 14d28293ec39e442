"""Learning-rate schedules with linear warmup: constant, step (piecewise constant), cosine and
linear decay.

Each is a serializable `tf.keras.optimizers.schedules.LearningRateSchedule`. The optimizer calls
a schedule with its iteration count `s` (0 for the first step), so step `s` trains with

    warmup(s) * base(s),   warmup(s) = min(1, (s + 1) / warmup_steps)   (1 when warmup_steps = 0)

where `base` is the schedule's own shape. The first step therefore never has a zero rate, and
step `warmup_steps - 1` is the first at the peak rate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import tensorflow as tf

if TYPE_CHECKING:
    from deepnets.training.config import TrainConfig

keras = tf.keras


class _WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup in front of `_base(step)`; subclasses define `_base`."""

    def __init__(self, learning_rate: float, warmup_steps: int = 0) -> None:
        super().__init__()
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)

    def _base(self, step: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        rate = self._base(step)
        if self.warmup_steps > 0:
            rate = rate * tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        return rate

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


@keras.utils.register_keras_serializable(package="deepnets")
class ConstantWithWarmup(_WarmupSchedule):
    """A constant rate after linear warmup.

    Args:
        learning_rate: the rate after warmup.
        warmup_steps: number of warmup steps (0: none).
    """

    def _base(self, step: tf.Tensor) -> tf.Tensor:
        return tf.fill(tf.shape(step), self.learning_rate)


@keras.utils.register_keras_serializable(package="deepnets")
class StepDecayWithWarmup(_WarmupSchedule):
    """Piecewise constant: multiplied by `decay_factor` at each boundary, after linear warmup.

    Step `s` uses `learning_rate * decay_factor ** (number of boundaries <= s)`.

    Args:
        learning_rate: the rate before the first boundary.
        boundaries: strictly increasing step numbers at which the rate drops.
        decay_factor: multiplier applied at each boundary.
        warmup_steps: number of warmup steps (0: none).
    """

    def __init__(
        self,
        learning_rate: float,
        boundaries: Sequence[int],
        decay_factor: float = 0.1,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(learning_rate, warmup_steps)
        self.boundaries = [int(b) for b in boundaries]
        if any(b <= a for a, b in itertools.pairwise(self.boundaries)):
            raise ValueError(f"boundaries must be strictly increasing, got {self.boundaries}")
        self.decay_factor = float(decay_factor)

    def _base(self, step: tf.Tensor) -> tf.Tensor:
        if not self.boundaries:
            return tf.fill(tf.shape(step), self.learning_rate)
        boundaries = tf.constant(self.boundaries, tf.float32)
        passed = tf.reduce_sum(tf.cast(step[..., None] >= boundaries, tf.float32), axis=-1)
        return self.learning_rate * tf.pow(self.decay_factor, passed)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(boundaries=list(self.boundaries), decay_factor=self.decay_factor)
        return config


class _DecayToFloor(_WarmupSchedule):
    """A decay over the steps after warmup, from the peak to `learning_rate * min_ratio`.

    Step `warmup_steps` starts at the peak and step `total_steps` reaches the floor (later steps
    stay there); subclasses give the decay's shape as `_fraction(progress)`, 1 at progress 0
    and 0 at progress 1. Arguments: see `CosineWithWarmup`.
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        min_ratio: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, warmup_steps)
        if total_steps <= 0:
            raise ValueError(f"total_steps must be > 0, got {total_steps}")
        self.total_steps = int(total_steps)
        self.min_ratio = float(min_ratio)

    def _fraction(self, progress: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _base(self, step: tf.Tensor) -> tf.Tensor:
        decay_steps = float(max(1, self.total_steps - self.warmup_steps))
        progress = tf.clip_by_value((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        fraction = self._fraction(progress)
        return self.learning_rate * (self.min_ratio + (1.0 - self.min_ratio) * fraction)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(total_steps=self.total_steps, min_ratio=self.min_ratio)
        return config


@keras.utils.register_keras_serializable(package="deepnets")
class CosineWithWarmup(_DecayToFloor):
    """Cosine decay from `learning_rate` to `learning_rate * min_ratio`, after linear warmup.

    The cosine runs over the steps after warmup: step `warmup_steps` starts at the peak and step
    `total_steps` reaches the minimum (later steps stay there).

    Args:
        learning_rate: the peak rate.
        total_steps: length of the whole run in steps, warmup included.
        warmup_steps: number of warmup steps (0: none).
        min_ratio: final rate as a fraction of the peak.
    """

    def _fraction(self, progress: tf.Tensor) -> tf.Tensor:
        return 0.5 * (1.0 + tf.cos(math.pi * progress))


@keras.utils.register_keras_serializable(package="deepnets")
class LinearWithWarmup(_DecayToFloor):
    """Linear decay from `learning_rate` to `learning_rate * min_ratio`, after linear warmup.

    With warmup this is the triangular ("one-cycle") shape of fast CIFAR-10 recipes such as
    airbench's: up linearly, then down linearly to a floor. Step `warmup_steps` starts at the
    peak and step `total_steps` reaches the floor (later steps stay there). Its arguments are
    `CosineWithWarmup`'s.
    """

    def _fraction(self, progress: tf.Tensor) -> tf.Tensor:
        return 1.0 - progress


def warmup_steps_for(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Warmup length in steps: `cfg.warmup_steps` if set, else `cfg.warmup_epochs` epochs.

    Args:
        cfg: the run's config.
        steps_per_epoch: optimizer steps per epoch.

    Returns:
        Number of warmup steps.
    """
    if cfg.warmup_steps is not None:
        return cfg.warmup_steps
    return int(round(cfg.warmup_epochs * steps_per_epoch))


def make_schedule(
    cfg: TrainConfig, steps_per_epoch: int, total_steps: int, warmup_steps: int | None = None
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Builds the schedule that `cfg.schedule` names.

    Args:
        cfg: the run's config (schedule, learning_rate, warmup, decay_epochs, ...).
        steps_per_epoch: optimizer steps per epoch (turns epochs into steps).
        total_steps: length of the run in steps.
        warmup_steps: the warmup in steps (default: `warmup_steps_for(cfg, steps_per_epoch)`).

    Returns:
        A `LearningRateSchedule`.

    Raises:
        ValueError: for an unknown schedule name.
    """
    warmup = warmup_steps_for(cfg, steps_per_epoch) if warmup_steps is None else warmup_steps
    if cfg.schedule == "constant":
        return ConstantWithWarmup(cfg.learning_rate, warmup)
    if cfg.schedule == "step":
        boundaries = [int(round(e * steps_per_epoch)) for e in cfg.decay_epochs]
        return StepDecayWithWarmup(cfg.learning_rate, boundaries, cfg.decay_factor, warmup)
    if cfg.schedule == "cosine":
        return CosineWithWarmup(cfg.learning_rate, total_steps, warmup, cfg.min_learning_rate_ratio)
    if cfg.schedule == "linear":
        return LinearWithWarmup(cfg.learning_rate, total_steps, warmup, cfg.min_learning_rate_ratio)
    raise ValueError(
        f"TrainConfig.schedule={cfg.schedule!r} is invalid: expected one of "
        "'constant', 'step', 'cosine', 'linear'."
    )
