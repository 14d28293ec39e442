"""`run_loop`: a runner, a controller, checkpoints and the standard actions, put together.

This is the one place that assembles a run's moving parts; `train(cfg)` calls it with the
runner it makes from the run plan, and tests or custom programs call it with their own runner
(any model, any data) to get the same checkpoints, resume, SIGTERM handling, NaN guard and
reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from deepnets.training.actions import METRICS_CSV, Action, standard_actions
from deepnets.training.checkpointing import CheckpointKeeper
from deepnets.training.controller import Controller, LoopSettings
from deepnets.training.preemption import SigtermFlag
from deepnets.training.results import TrainResult
from deepnets.training.runner import StepRunner
from deepnets.training.strategy import is_chief, is_multi_worker


def run_loop(
    runner: StepRunner,
    settings: LoopSettings,
    *,
    model_dir: str,
    keep_checkpoints: int = 3,
    learning_rate: Callable[[int], float] | None = None,
    extra_actions: Sequence[Action] = (),
) -> TrainResult:
    """Trains `runner` to `settings.total_steps`, resuming from `model_dir`'s newest checkpoint.

    Writes into `model_dir` (on the chief): checkpoints/, metrics.csv, tensorboard/ and
    curves.png. SIGTERM checkpoints the current step and returns with `preempted=True`; in a
    multi-worker run every worker stops at the same step.

    Args:
        runner: the step runner (its model and optimizer are checkpointed).
        settings: the schedule.
        model_dir: the run folder.
        keep_checkpoints: checkpoints kept on disk.
        learning_rate: step -> rate, for the reports.
        extra_actions: actions called after the standard ones (every worker calls them).

    Returns:
        The `TrainResult` (final model paths are left None; `train` fills them).

    Raises:
        NonFiniteLossError: when a loop's loss is NaN/Inf; that state is not saved.
    """
    strategy = runner.strategy
    chief = is_chief(strategy)
    checkpoints = CheckpointKeeper(
        strategy, model_dir, keep_checkpoints, model=runner.model, optimizer=runner.optimizer
    )
    actions = standard_actions(model_dir, settings.steps_per_epoch) if chief else []
    actions += list(extra_actions)
    multi_worker = is_multi_worker(strategy)
    try:
        with SigtermFlag() as sigterm:

            def stop_requested() -> bool:
                # Every worker must stop at the same step, or the others hang in a collective.
                return runner.any_replica(sigterm.requested) if multi_worker else sigterm.requested

            controller = Controller(
                runner,
                settings,
                checkpoints,
                actions,
                learning_rate=learning_rate,
                stop_requested=stop_requested,
                model_dir=model_dir,
            )
            result = controller.run()
    finally:
        for action in actions:
            action.close()
        checkpoints.close()
    if chief:
        result.metrics_csv = os.path.join(model_dir, METRICS_CSV)
    return result
