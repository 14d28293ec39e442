"""Learning-rate schedules: warmup and decay values at known steps, serialization."""

import math

import numpy as np
import pytest
import tensorflow as tf

from deepnets.training import (
    ConstantWithWarmup,
    CosineWithWarmup,
    LinearWithWarmup,
    StepDecayWithWarmup,
    TrainConfig,
    make_schedule,
)


def values(schedule, steps):
    return [float(schedule(tf.constant(s, tf.int64))) for s in steps]


def test_linear_warmup_reaches_peak_at_last_warmup_step():
    schedule = ConstantWithWarmup(0.4, warmup_steps=4)
    np.testing.assert_allclose(
        values(schedule, [0, 1, 2, 3, 4, 100]), [0.1, 0.2, 0.3, 0.4, 0.4, 0.4]
    )


def test_step_decay_drops_at_each_boundary_after_warmup():
    schedule = StepDecayWithWarmup(0.1, boundaries=[10, 20], decay_factor=0.2, warmup_steps=5)
    got = values(schedule, [0, 4, 9, 10, 19, 20, 1000])
    np.testing.assert_allclose(got, [0.02, 0.1, 0.1, 0.02, 0.02, 0.004, 0.004], rtol=1e-6)


def test_cosine_runs_from_peak_after_warmup_to_minimum_at_total():
    schedule = CosineWithWarmup(1.0, total_steps=110, warmup_steps=10, min_ratio=0.1)
    got = values(schedule, [9, 10, 60, 110, 500])
    # Half way through the cosine: min + (peak - min) * 0.5.
    np.testing.assert_allclose(got, [1.0, 1.0, 0.55, 0.1, 0.1], rtol=1e-6)
    quarter = values(schedule, [35])[0]
    assert quarter == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)), rel=1e-6)


def test_linear_runs_from_peak_after_warmup_down_to_floor_at_total():
    # airbench's triangle: up over the first steps, then straight down to 7% of the peak.
    schedule = LinearWithWarmup(2.0, total_steps=110, warmup_steps=10, min_ratio=0.07)
    got = values(schedule, [0, 4, 9, 10, 35, 60, 110, 500])
    peak, floor = 2.0, 0.14
    quarter, half = peak - (peak - floor) / 4, peak - (peak - floor) / 2
    np.testing.assert_allclose(got, [0.2, 1.0, 2.0, 2.0, quarter, half, floor, floor], rtol=1e-6)
    # Without warmup the first step is at the peak; the rate never rises after it.
    plain = values(LinearWithWarmup(1.0, total_steps=20), range(25))
    assert plain[0] == pytest.approx(1.0) and plain[20] == pytest.approx(0.0, abs=1e-7)
    assert all(a >= b for a, b in zip(plain[:-1], plain[1:], strict=True))


def test_make_schedule_converts_epochs_to_steps():
    cfg = TrainConfig(
        schedule="step",
        learning_rate=0.1,
        decay_epochs=(2, 3),
        decay_factor=0.1,
        warmup_epochs=0.5,
        epochs=4,
    )
    schedule = make_schedule(cfg, steps_per_epoch=10, total_steps=40)
    assert isinstance(schedule, StepDecayWithWarmup)
    assert schedule.boundaries == [20, 30] and schedule.warmup_steps == 5
    cfg = TrainConfig(schedule="cosine", warmup_steps=3, epochs=None, train_steps=50)
    cosine = make_schedule(cfg, steps_per_epoch=10, total_steps=50)
    assert isinstance(cosine, CosineWithWarmup) and cosine.warmup_steps == 3
    assert cosine.total_steps == 50
    cfg = TrainConfig(schedule="linear", warmup_epochs=1, min_learning_rate_ratio=0.07, epochs=5)
    linear = make_schedule(cfg, steps_per_epoch=10, total_steps=50)
    assert isinstance(linear, LinearWithWarmup) and linear.warmup_steps == 10
    assert (linear.total_steps, linear.min_ratio) == (50, 0.07)


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantWithWarmup(0.3, 7),
        StepDecayWithWarmup(0.1, [5, 9], 0.5, 2),
        CosineWithWarmup(0.2, 100, 10, 0.05),
        LinearWithWarmup(0.4, 100, 23, 0.07),
    ],
)
def test_schedules_serialize_and_deserialize(schedule):
    config = tf.keras.optimizers.schedules.serialize(schedule)
    again = tf.keras.optimizers.schedules.deserialize(config)
    assert type(again) is type(schedule)
    steps = [0, 3, 6, 50, 99]
    np.testing.assert_allclose(values(again, steps), values(schedule, steps))
    # An optimizer config carries the schedule; the restored optimizer evaluates it at step 0.
    optimizer = tf.keras.optimizers.SGD(schedule)
    restored = tf.keras.optimizers.SGD.from_config(optimizer.get_config())
    assert float(restored.learning_rate) == pytest.approx(values(schedule, [0])[0])
