"""`run_loop`: a runner, a controller, checkpoints and the standard actions, put together.

This is the one place that assembles a run's moving parts; `train(cfg)` calls it with the
runner it makes from the run plan, and tests or custom programs call it with their own runner
(any model, any data) to get the same checkpoints, resume, SIGTERM handling, NaN guard and
reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import tensorflow as tf

from deepnets.training.loop.actions import Action
from deepnets.training.loop.controller import Controller, LoopSettings, Runner
from deepnets.training.loop.keras_callbacks import KerasCallbacks
from deepnets.training.loop.results import TrainResult
from deepnets.training.loop.stopping import Stopping
from deepnets.training.reports.gradient_report import GradientNormsWriter
from deepnets.training.reports.standard_actions import standard_actions
from deepnets.training.run_folder.best_checkpoint import BestCheckpointStore
from deepnets.training.run_folder.checkpointing import CheckpointKeeper
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.runtime.preemption import SigtermFlag
from deepnets.training.runtime.strategy import is_chief, is_multi_worker

keras = tf.keras


def run_loop(
    runner: Runner,
    settings: LoopSettings,
    *,
    model_dir: str,
    keep_checkpoints: int = 3,
    learning_rate: Callable[[int], float] | None = None,
    extra_actions: Sequence[Action] = (),
    progress: bool = True,
    stop_when: Callable[[], bool] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    keep_best: str | None = None,
    early_stopping_patience: int | None = None,
) -> TrainResult:
    """Trains `runner` to `settings.total_steps`, resuming from `model_dir`'s newest checkpoint.

    Writes into `model_dir` (on the chief, which holds the folder's lock meanwhile):
    checkpoints/, metrics.csv, tensorboard/ and curves.png. SIGTERM checkpoints the current
    step and returns with `preempted=True`; in a multi-worker run every worker stops at the
    same step.

    Args:
        runner: the step runner (a `StepRunner`, or anything the `Runner` protocol fits): its
            `checkpoint_objects` are checkpointed.
        settings: the schedule.
        model_dir: the run folder.
        keep_checkpoints: checkpoints kept on disk.
        learning_rate: step -> rate, for the reports.
        extra_actions: actions called after the standard ones (every worker calls them).
        progress: print the progress lines (off: metrics.csv, TensorBoard and curves only).
        stop_when: asked after each loop, like SIGTERM: True checkpoints and stops the run
            (`preempted=True`) without its final evaluation.
        callbacks: Keras callbacks, called as `fit` calls them (every worker calls them; see
            `deepnets.training.loop.keras_callbacks` for what `batch` means); a callback that
            sets `model.stop_training` ends the run cleanly after the current loop
            (`stopped_early`), and a rerun finds it complete.
        keep_best: an evaluated metric (`val_loss`, `val_top1`, `val_top5`): every evaluation
            that is the best so far is checkpointed and kept in `checkpoints/best/` (losses are
            minimised, accuracies maximised); resumes and kills keep it.
        early_stopping_patience: end the run cleanly after this many evaluations without
            improvement of `keep_best` (default `val_loss`); a resumed run remembers how long it
            has waited (`stopping.json`).

    Returns:
        The `TrainResult` (final model paths are left None; `train` fills them).

    Raises:
        NonFiniteLossError: when a loop's loss is NaN/Inf; that state is not saved.
        RunLockedError: another process trains in `model_dir`.
        OutputWriteError: a file of the run folder could not be written (e.g. a full disk).
        NoReadableCheckpointError: the folder has checkpoints but none can be read.
        ArgumentError: `keep_best` is not an evaluated metric (the message lists them), or
            `early_stopping_patience` is not a positive int.
        ConfigError: `keep_best` is not the metric the run folder keeps the best by.
    """
    strategy = runner.strategy
    chief = is_chief(strategy)
    stopping = Stopping(keep_best, early_stopping_patience, BestCheckpointStore(model_dir, chief))
    if callbacks:
        extra_actions = [
            *extra_actions,
            KerasCallbacks(callbacks, runner.model, settings.steps_per_epoch),
        ]
    with run_folder(model_dir, chief):
        return _run(
            runner,
            settings,
            model_dir,
            chief,
            keep_checkpoints,
            learning_rate,
            extra_actions,
            progress,
            stop_when,
            stopping,
        )


def run_folder(model_dir: str, chief: bool) -> contextlib.AbstractContextManager[object]:
    """Holds the run folder for writing on the chief (`RunFolder.held`: its lock, leftovers of
    killed writers cleaned up, a damaged record kept aside, a failed write turned into an
    `OutputWriteError`); other workers write nothing there and hold nothing."""
    return RunFolder(model_dir).held() if chief else contextlib.nullcontext()


def _run(
    runner: Runner,
    settings: LoopSettings,
    model_dir: str,
    chief: bool,
    keep_checkpoints: int,
    learning_rate: Callable[[int], float] | None,
    extra_actions: Sequence[Action],
    progress: bool,
    stop_when: Callable[[], bool] | None,
    stopping: Stopping,
) -> TrainResult:
    strategy = runner.strategy
    checkpoints = CheckpointKeeper(
        strategy, model_dir, keep_checkpoints, **runner.checkpoint_objects()
    )
    folder = RunFolder(model_dir)
    actions = standard_actions(folder, settings.steps_per_epoch, progress) if chief else []
    if chief and "gradient_norms" in runner.loop_reports:
        actions.append(GradientNormsWriter(folder, settings.steps_per_epoch))
    actions += list(extra_actions)
    multi_worker = is_multi_worker(strategy)
    try:
        with SigtermFlag() as sigterm:

            def stop_requested() -> bool:
                requested = sigterm.requested or (stop_when is not None and stop_when())
                # Every worker must stop at the same step, or the others hang in a collective.
                return runner.any_replica(requested) if multi_worker else requested

            controller = Controller(
                runner,
                settings,
                checkpoints,
                actions,
                learning_rate=learning_rate,
                stop_requested=stop_requested,
                model_dir=model_dir,
                stopping=stopping,
                agree=runner.any_replica if multi_worker else bool,
            )
            result = controller.run()
    finally:
        for action in actions:
            action.close()
        checkpoints.close()
    if chief:
        result.metrics_csv = folder.metrics_csv
    return result
