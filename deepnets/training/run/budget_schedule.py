"""The learning-rate schedule of a planned run, its warmup fitted to a time budget's length.

A budgeted run's length is what the machine fits in the budget, not what the recipe's author
chose: the fast CIFAR-10 recipe trains about 26 epochs in 20 minutes on a 2-core Xeon with AMX
and 1.2 epochs on a 2-core AVX2 EPYC with TensorFlow's default kernels, where its one epoch of
warmup took 196 of the 228 planned steps and left 32 for the decay. So a budgeted run warms up
over at most `BUDGET_WARMUP_SHARE` of its planned steps, and says so in its log when that
shortens the configured warmup. Runs of a length the user set (epochs, train_steps) keep the
warmup they asked for. The other parts that depend on the length already follow the plan: the
decay ends at the planned last step, lookahead's pull-back ramps over the planned steps, and the
budget counts every evaluation of the planned run.

The calibration (the first steps, under a provisional length) warms up as configured, since the
length is not known yet: on a slow machine it ends partway up the warmup ramp, and the run then
resumes at the rate the fitted schedule has at that step.
"""

from __future__ import annotations

import tensorflow as tf

from deepnets.training.optimization.schedules import make_schedule, warmup_steps_for
from deepnets.training.run.plan import RunPlan

keras = tf.keras

BUDGET_WARMUP_SHARE = 0.2  # a budgeted run warms up over at most this share of its steps


def fitted_warmup(plan: RunPlan) -> tuple[int, str | None]:
    """The warmup steps of `plan`'s schedule, and a log line when the budget shortened it.

    Args:
        plan: a planned run (its `budget`, when set, fixed `loop.total_steps`).

    Returns:
        (warmup steps, None or one line saying what was shortened and why).
    """
    cfg = plan.config
    configured = warmup_steps_for(cfg, plan.loop.steps_per_epoch)
    total = plan.loop.total_steps
    if plan.budget is None or total is None:
        return configured, None
    cap = int(round(BUDGET_WARMUP_SHARE * total))
    if configured <= cap:
        return configured, None
    epochs = configured / plan.loop.steps_per_epoch
    return cap, (
        f"Warmup fitted to the budget: the configured {configured} steps ({epochs:.2g} "
        f"epoch{'' if epochs == 1 else 's'}) "
        f"would be {configured / total:.0%} of the {total} steps this machine fits in "
        f"{plan.budget.minutes:g} minutes; warming up over {cap} "
        f"({BUDGET_WARMUP_SHARE:.0%}) instead."
    )


def run_schedule(plan: RunPlan) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning-rate schedule of `plan` (`make_schedule` over the plan's length, with the
    warmup `fitted_warmup` chooses)."""
    warmup, _ = fitted_warmup(plan)
    return make_schedule(
        plan.config, plan.loop.steps_per_epoch, plan.loop.total_steps, warmup_steps=warmup
    )
