"""The controller: decides when to train, evaluate, checkpoint, report and stop.

Orbit's split: a runner runs steps (`StepRunner`, or anything the `Runner` protocol fits) and
the `Controller` drives it. It resumes from the newest checkpoint, runs loops that never cross an
epoch, evaluation or checkpoint boundary, evaluates and checkpoints when due, stops on a NaN/Inf
loss (before saving that state) or when `stop_requested()` says so (SIGTERM), ends the run
cleanly when an action asks (`Action.stop_reason`: a Keras callback's `model.stop_training`) or
the patience of early stopping is used up, checkpoints every best evaluation (`Stopping`), and
tells its actions (progress line, CSV, TensorBoard, plots) what happened. It never touches a
model or a tensor, so its schedule is tested with a fake runner in milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from deepnets.training.errors import NonFiniteLossError
from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.loop.epochs import epochs_begun
from deepnets.training.loop.results import TrainResult
from deepnets.training.loop.stopping import Stopping


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    """The schedule of a run, in steps.

    Attributes:
        total_steps: the step the run ends at.
        steps_per_epoch: steps per epoch; loops never cross an epoch's end.
        steps_per_loop: most steps per runner call.
        eval_every_steps: evaluation period (None: at the end of every epoch; 0: only at the
            end of the run).
        checkpoint_every_steps: checkpoint period (None: at the end of every epoch).
        log_every_steps: a progress line at most this often (None: after every loop).
        phase_steps: steps where the training changes (e.g. the backbone is unfrozen); loops
            end there.
    """

    total_steps: int
    steps_per_epoch: int
    steps_per_loop: int = 50
    eval_every_steps: int | None = None
    checkpoint_every_steps: int | None = None
    log_every_steps: int | None = None
    phase_steps: tuple[int, ...] = ()

    @property
    def total_epochs(self) -> int:
        """Epochs begun by the end of the run."""
        return epochs_begun(self.total_steps, self.steps_per_epoch)

    def loop_length(self, step: int) -> int:
        """Steps of the loop that starts after `step`: up to the next boundary."""
        limits = [
            self.steps_per_loop,
            self.total_steps - step,
            self.steps_per_epoch - step % self.steps_per_epoch,
        ]
        for every in (self.checkpoint_every_steps, self.eval_every_steps):
            if every:
                limits.append(every - step % every)
        limits += [boundary - step for boundary in self.phase_steps if boundary > step]
        return min(limits)

    def due(self, step: int, every: int | None) -> bool:
        """Whether something with period `every` (None: each epoch; 0: only the last step) is
        due at `step`."""
        if step == self.total_steps:
            return True
        if every is None:
            return step % self.steps_per_epoch == 0
        return every > 0 and step % every == 0

    def log_due(self, step: int, num_steps: int) -> bool:
        """Whether the loop that ended at `step` crossed a multiple of `log_every_steps`."""
        every = self.log_every_steps
        if every is None or step == self.total_steps:
            return True
        return step // every != (step - num_steps) // every


class Runner(Protocol):
    """What the controller and `run_loop` use of a runner (`StepRunner` is one); nothing else.

    The controller uses `global_batch_size`, `has_eval`, `train`, `evaluate`, `sync_state` and
    `restored`; `run_loop` also `strategy`, `checkpoint_objects`, `loop_reports`,
    `any_replica` and, given Keras callbacks, `model`.
    """

    strategy: Any  # a tf.distribute.Strategy: who checkpoints and reports (the chief)
    global_batch_size: int
    has_eval: bool
    loop_reports: frozenset[str]  # entries `train` returns beside the metrics ("gradient_norms")

    def train(self, step: int, num_steps: int) -> dict[str, Any]: ...

    def evaluate(self) -> dict[str, float]: ...

    def sync_state(self) -> None: ...

    def restored(self) -> None: ...

    def checkpoint_objects(self) -> dict[str, Any]: ...

    def any_replica(self, flag: bool) -> bool: ...


class Checkpoints(Protocol):
    """What the controller needs of a checkpoint keeper."""

    @property
    def latest(self) -> str | None: ...

    def restore_latest(self) -> tuple[str | None, int]: ...

    def save(self, step: int) -> str | None: ...


class Controller:
    """Runs a training run to its end (or to a requested stop), resuming where it was.

    Args:
        runner: runs steps and evaluations.
        settings: the schedule.
        checkpoints: restores and saves the run's state.
        actions: told about every loop, evaluation, checkpoint and stop, in order.
        learning_rate: step -> rate, for the reports (None: not reported).
        stop_requested: asked after each loop; True checkpoints and stops (SIGTERM).
        model_dir: the run folder, for the result.
        stopping: the best evaluation, early stopping and a recorded early stop (default:
            none followed, kept in memory).
        agree: every worker's vote -> whether any voted yes (a multi-worker run's workers must
            stop at the same step); the default is one worker's vote.
    """

    def __init__(
        self,
        runner: Runner,
        settings: LoopSettings,
        checkpoints: Checkpoints,
        actions: Sequence[Action] = (),
        *,
        learning_rate: Callable[[int], float] | None = None,
        stop_requested: Callable[[], bool] = lambda: False,
        model_dir: str = "",
        stopping: Stopping | None = None,
        agree: Callable[[bool], bool] = bool,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.checkpoints = checkpoints
        self.actions = list(actions)
        self.learning_rate = learning_rate
        self.stop_requested = stop_requested
        self.model_dir = model_dir
        self.stopping = stopping if stopping is not None else Stopping()
        self.agree = agree
        self._saved_step: int | None = None

    def _tell(self, event: str, *args: Any) -> None:
        for action in self.actions:
            getattr(action, event)(*args)

    def _save(self, step: int) -> str | None:
        if self._saved_step == step:
            return self.checkpoints.latest
        self.runner.sync_state()
        path = self.checkpoints.save(step)
        self._saved_step = step
        self._tell("on_checkpoint", step, path)
        return path

    def _evaluate(self, step: int) -> dict[str, float]:
        metrics = self.runner.evaluate()
        self._tell("on_eval", step, metrics)
        if self.stopping.observe(step, metrics):  # the best so far: checkpointed and kept
            self.stopping.keep_best(step, self._save(step))
        return metrics

    def _train_loop(self, step: int) -> tuple[int, dict[str, float]]:
        settings = self.settings
        num_steps = settings.loop_length(step)
        started = time.perf_counter()
        metrics = dict(self.runner.train(step, num_steps))  # reading them waits for the steps
        gradient_norms = metrics.pop("gradient_norms", None)
        seconds = max(time.perf_counter() - started, 1e-9)
        end = step + num_steps
        if not math.isfinite(metrics["loss"]):
            raise NonFiniteLossError(step + 1, end, metrics["loss"], self.checkpoints.latest)
        report = LoopReport(
            step=end,
            num_steps=num_steps,
            total_steps=settings.total_steps,
            steps_per_epoch=settings.steps_per_epoch,
            metrics=metrics,
            learning_rate=None if self.learning_rate is None else self.learning_rate(end - 1),
            images_per_sec=num_steps * self.runner.global_batch_size / seconds,
            eta_seconds=(settings.total_steps - end) * seconds / num_steps,
            log=settings.log_due(end, num_steps),
            gradient_norms=gradient_norms,
        )
        self._tell("on_train_loop", report)
        return end, metrics

    def _stop_reason(self) -> str | None:
        reason = self.stopping.patience_exhausted()
        if reason is None:
            reason = next(filter(None, (action.stop_reason() for action in self.actions)), None)
        if self.agree(reason is not None) and reason is None:
            reason = "another worker's Keras callback set model.stop_training"
        return reason

    def run(self) -> TrainResult:
        """Trains to `settings.total_steps` from the newest checkpoint (or from scratch).

        Returns:
            A `TrainResult`; `preempted` is True when `stop_requested` ended the run early,
            `stopped_early` says why an action or the patience ended it (a complete run).

        Raises:
            NonFiniteLossError: when a loop's loss is NaN/Inf; that state is not saved.
        """
        settings = self.settings
        resumed_from, step = self.checkpoints.restore_latest()
        if resumed_from:
            self.runner.restored()
        self._saved_step = step if resumed_from else None
        stopped_early = self.stopping.resume(step)  # a run stopped early is complete
        if stopped_early is not None and self.stopping.stopped is None:
            self.stopping.record_stop(step, stopped_early)  # patience used up before a kill
        self._tell("on_start", step, settings.total_steps, resumed_from)
        train_metrics: dict[str, float] = {}
        eval_metrics: dict[str, float] = {}
        eval_step = None
        preempted = False
        while step < settings.total_steps and stopped_early is None:
            self._tell("on_loop_begin", step, settings.loop_length(step))
            step, train_metrics = self._train_loop(step)
            if self.runner.has_eval and settings.due(step, settings.eval_every_steps):
                eval_metrics, eval_step = self._evaluate(step), step
            if settings.due(step, settings.checkpoint_every_steps):
                self._save(step)
            self._tell("on_loop_end", step)
            if self.stop_requested():
                preempted = True
                self._tell("on_stop", step, self._save(step))
                break
            stopped_early = self._stop_reason()
            if stopped_early is not None:
                self._save(step)
                self.stopping.record_stop(step, stopped_early)  # after its checkpoint
        if not preempted:
            self._save(step)  # a no-op when this step was just saved
            if self.runner.has_eval and eval_step != step:
                # A run restored at its last step evaluated (and reported) that step before its
                # last checkpoint: evaluate for the result only, without a second report.
                restored_complete = resumed_from is not None and not train_metrics
                eval_metrics = self.runner.evaluate() if restored_complete else self._evaluate(step)
        best = self.stopping.best
        result = TrainResult(
            final_step=step,
            total_steps=settings.total_steps,
            train_metrics=train_metrics,
            eval_metrics=eval_metrics,
            model_dir=self.model_dir,
            checkpoint_path=self.checkpoints.latest,
            preempted=preempted,
            resumed_from=resumed_from,
            stopped_early=stopped_early,
            best_checkpoint_path=self.stopping.best_path,
            best_step=None if best is None else best[0],
            best_value=None if best is None else best[1],
        )
        self._tell("on_end", result)
        return result
