"""The second group of a `TrainConfig`'s fields: the run's length and batch, the optimizer and
the learning-rate schedule.

A base dataclass of `TrainConfig` (after `InputSettings`), so that each file holds one group of
settings; the fields carry their help text and check like all the others (see
`fields.setting`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from deepnets import checks
from deepnets.training.config.fields import (
    BOOL,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPTIMIZERS,
    OPTIONAL_POSITIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    choice,
    number_range,
    optional,
    setting,
    simple,
)
from deepnets.training.config.inputs import InputSettings

SCHEDULES = ("constant", "step", "cosine", "linear")


@dataclasses.dataclass
class OptimizationSettings(InputSettings):
    """Length, batch, optimizer and learning-rate schedule of a run (see `TrainConfig`)."""

    # Length and batch.
    epochs: int | None = setting(10, "Epochs to train (or set train_steps).", OPTIONAL_POSITIVE_INT)
    train_steps: int | None = setting(
        None, "Optimizer steps to train (instead of epochs).", OPTIONAL_POSITIVE_INT
    )
    time_budget_minutes: float | None = setting(
        None,
        "Train as many steps as fit in this many minutes of wall-clock, evaluations and export "
        "included (instead of epochs): the first steps measure the step rate, then the run's "
        "length is fixed and recorded in the run folder (budget.json), so the schedule decays "
        "over it and a resumed run keeps it. One process only (not multi-worker).",
        optional(POSITIVE_FLOAT),
    )
    global_batch_size: int = setting(128, "Examples per step, over all replicas.", POSITIVE_INT)
    eval_batch_size: int | None = setting(
        None, "Global evaluation batch size (default: global_batch_size).", OPTIONAL_POSITIVE_INT
    )

    # Optimizer.
    optimizer: str = setting(
        "sgd",
        "sgd (momentum, nesterov), adam, adamw, nadam, lion, lamb or muon (momentum, nesterov; "
        "orthogonalized momentum for the conv and hidden dense kernels, AdamW at the same rate "
        "for the vectors and the classifier head).",
        choice(*OPTIMIZERS),
    )
    clip_grad_norm: float | None = setting(
        None,
        "Clip the gradients to this global L2 norm (None: no clipping).",
        optional(POSITIVE_FLOAT),
    )
    learning_rate: float = setting(0.1, "Peak learning rate, reached after warmup.", POSITIVE_FLOAT)
    momentum: float = setting(0.9, "SGD (and Muon) momentum.", FRACTION)
    nesterov: bool = setting(False, "Nesterov momentum (sgd and muon only).", BOOL)
    beta_1: float = setting(0.9, "Adam/AdamW first-moment decay.", FRACTION)
    beta_2: float = setting(0.999, "Adam/AdamW second-moment decay.", FRACTION)
    epsilon: float = setting(1e-7, "Adam/AdamW epsilon.", POSITIVE_FLOAT)

    # Learning-rate schedule.
    schedule: str = setting(
        "cosine",
        "constant, step, cosine or linear (linear decay: with warmup, the triangular one-cycle "
        "shape), each after linear warmup.",
        choice(*SCHEDULES),
    )
    warmup_epochs: float = setting(0.0, "Linear warmup in epochs (may be fractional).", NONNEGATIVE)
    warmup_steps: int | None = setting(
        None, "Linear warmup in steps; overrides warmup_epochs.", optional(NONNEGATIVE_INT)
    )
    decay_epochs: Sequence[float] = setting(
        (30.0, 60.0, 80.0),
        "Epochs at which the step schedule multiplies the rate by decay_factor.",
        simple(checks.check_increasing),
    )
    decay_factor: float = setting(
        0.1, "Multiplier at each decay epoch.", number_range(0.0, 1.0, low_inclusive=False)
    )
    min_learning_rate_ratio: float = setting(
        0.0,
        "The cosine and linear schedules end at learning_rate times this.",
        number_range(0.0, 1.0),
    )
