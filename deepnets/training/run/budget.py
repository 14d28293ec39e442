"""A run sized to a wall-clock budget (`time_budget_minutes`).

A budgeted run starts as a calibration: it trains its first steps under a provisional length
(`PROVISIONAL_EPOCHS`, so the schedule's decay and the lookahead have not begun) while
`CalibrationClock` times them, and stops at a checkpoint once `CALIBRATION_SECONDS` of steady
steps are measured: after the first loop, which traces the step, and after the first epoch,
whose input pipeline also reads and decodes the image files that later epochs take from memory
(measured on the fast CPU recipe: 0.65 s per step in the first epoch, 0.59 after), unless that
epoch would take more than `FIRST_EPOCH_SHARE` of the budget. `plan_budget` then fixes the
run's length: the most steps whose training, evaluations and export end within the budget,
counted from the start of `train`. The `BudgetPlan` is written to the run folder (budget.json)
and the run resumes from the calibration's checkpoint with that length, as a killed run would:
its schedule decays over the planned steps, and any later resume reads the same plan.

The estimate: the steps after calibration at the calibration's seconds per step plus
`SPEED_MARGIN` (a machine's speed drifts: in 20-minute runs of the fast CPU recipe the later
steps ran 2% and 4% slower than the calibration measured, and with a 2% margin the runs ended
10 s and 17 s over; in others they ran up to 9% faster); a second
start-up (building the model again, tracing) as long as the first one's, less one steady loop;
each evaluation at `EVAL_COST_RATIO` of a training step's time per image per view (a forward
pass against a forward and backward pass); the export at `EXPORT_STARTUP_RATIO` of a start-up
(it traces the forward pass only). On the fast CPU recipe (20 minutes, 2-core CPU) the run
ended 0.5 minutes inside its budget.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

import tensorflow as tf

from deepnets.training.config import ConfigError, TrainConfig
from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.loop.controller import LoopSettings
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.runtime.strategy import is_multi_worker

CALIBRATION_SECONDS = 20.0  # steady steps timed before the length is fixed
CALIBRATION_LOOPS = 2  # and at least this many loops after the first
FIRST_EPOCH_SHARE = 0.25  # the first epoch is left out of the timing if it takes at most this
PROVISIONAL_EPOCHS = 1000  # the calibration's length: its schedule is still at its start
EVAL_COST_RATIO = 1.0 / 3.0  # an eval image-view against a training image (forward only)
EXPORT_STARTUP_RATIO = 0.5  # the export against a start-up
SPEED_MARGIN = 0.05  # the steps after calibration are planned this much slower than measured


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """What a calibration measured and the length it fixed.

    Attributes:
        minutes: the budget.
        calibration_steps: the steps the calibration trained (the run resumes after them).
        seconds_per_step: the calibration's steady seconds per training step.
        startup_seconds: the first start-up (model, input pipeline, tracing), charged again
            for the resume, and at `EXPORT_STARTUP_RATIO` of it for the export.
        seconds_per_evaluation: the estimate of one evaluation.
        elapsed_seconds: wall-clock from the start of `train` to the calibration's checkpoint.
        total_steps: the run's length.
        planned_seconds: what the estimate expects the whole run to take.
    """

    minutes: float
    calibration_steps: int
    seconds_per_step: float
    startup_seconds: float
    seconds_per_evaluation: float
    elapsed_seconds: float
    total_steps: int
    planned_seconds: float

    def write(self, model_dir: str) -> str:
        """Writes `model_dir/budget.json` atomically; returns its path."""
        folder = RunFolder(model_dir)
        return folder.write_json(folder.budget, dataclasses.asdict(self))

    @classmethod
    def read(cls, model_dir: str) -> BudgetPlan | None:
        """The plan of `model_dir` (None: the folder has none yet).

        Raises:
            ValueError: the file is not a budget plan (its path and what is wrong named).
        """
        path = RunFolder(model_dir).budget
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                values = json.load(f)
            return cls(**values)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{path} is not a deepnets budget plan ({err}); delete it to measure the step "
                "rate again (the run then re-plans its length from its newest checkpoint)"
            ) from err

    def describe(self, steps_per_epoch: int, batch_size: int) -> str:
        """One line for the log: what was measured and decided."""
        return (
            f"Time budget {self.minutes:g} min: {batch_size / self.seconds_per_step:.0f} img/s "
            f"measured by step {self.calibration_steps}; the run trains "
            f"{self.total_steps} steps ({self.total_steps / steps_per_epoch:.1f} epochs), "
            f"expected to end at {self.planned_seconds / 60:.1f} min."
        )


def evaluations_after(settings: LoopSettings, step: int, total_steps: int) -> int:
    """How many evaluations a run of `total_steps` holds after `step` (the end's included)."""
    every = settings.eval_every_steps
    period = settings.steps_per_epoch if every is None else every
    if period == 0:
        return 1
    due = total_steps // period - step // period
    return due + (1 if total_steps % period else 0)


def plan_budget(
    minutes: float,
    settings: LoopSettings,
    *,
    calibration_steps: int,
    seconds_per_step: float,
    startup_seconds: float,
    elapsed_seconds: float,
    eval_seconds: float,
) -> BudgetPlan:
    """The most steps that end within the budget (at least the calibration's own).

    Args:
        minutes: the budget.
        settings: the run's schedule (its evaluation period counts the evaluations).
        calibration_steps: steps already trained.
        seconds_per_step: their steady rate (the later steps are planned at `SPEED_MARGIN`
            more).
        startup_seconds: the start-up's cost (charged for the resume, and in part for the
            export).
        elapsed_seconds: spent so far.
        eval_seconds: one evaluation (0 without an eval set).

    Returns:
        The `BudgetPlan`.
    """
    budget = minutes * 60.0
    fixed = elapsed_seconds + (1.0 + EXPORT_STARTUP_RATIO) * startup_seconds
    step_seconds = seconds_per_step * (1.0 + SPEED_MARGIN)

    def seconds(total: int) -> float:
        evaluations = evaluations_after(settings, calibration_steps, total) if eval_seconds else 0
        return fixed + (total - calibration_steps) * step_seconds + evaluations * eval_seconds

    low = calibration_steps  # the largest total known to fit (or the calibration's, if none)
    high = calibration_steps + max(0, math.floor((budget - fixed) / step_seconds)) + 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if seconds(middle) <= budget else (low, middle)
    return BudgetPlan(
        minutes=float(minutes),
        calibration_steps=int(calibration_steps),
        seconds_per_step=float(seconds_per_step),
        startup_seconds=float(startup_seconds),
        seconds_per_evaluation=float(eval_seconds),
        elapsed_seconds=float(elapsed_seconds),
        total_steps=int(low),
        planned_seconds=float(seconds(low)),
    )


class CalibrationClock(Action):
    """Times a calibration's loops; `done()` once enough steady steps are measured.

    Args:
        started: `time.perf_counter()` at the start of `train` (the budget's start).
        batch_size: global batch size (turns a loop's img/s into seconds).
        steps_per_epoch: steps per epoch (the first epoch is timed apart).
        budget_seconds: the budget.
        clock: the time source (tests pass a fake one).
    """

    def __init__(
        self,
        started: float,
        batch_size: int,
        steps_per_epoch: int,
        budget_seconds: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.started = started
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.budget_seconds = budget_seconds
        self.clock = clock
        self.loops: list[tuple[int, int, float]] = []  # (first step, steps, seconds) per loop
        self.first_loop_end: float | None = None
        self.step = 0

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        self.step = step
        print(
            "Time budget: measuring the step rate"
            + (f" (resumed at step {step})" if step else "")
            + "...",
            flush=True,
        )

    def on_train_loop(self, report: LoopReport) -> None:
        seconds = report.num_steps * self.batch_size / report.images_per_sec
        if self.first_loop_end is None:
            self.first_loop_end = self.clock()
        self.loops.append((report.step - report.num_steps, report.num_steps, seconds))
        self.step = report.step
        print(f"  step {report.step}: {report.images_per_sec:.0f} img/s", flush=True)

    @property
    def steady(self) -> list[tuple[int, float]]:
        """(steps, seconds) of the loops that time the run's pace: those after the first (which
        traced the step) and, when the first epoch is short against the budget, after it."""
        after_first = self.loops[1:]
        first_epoch = [loop for loop in after_first if loop[0] < self.steps_per_epoch]
        if first_epoch:
            steps = sum(n for _, n, _ in first_epoch)
            epoch_seconds = self.steps_per_epoch * sum(s for _, _, s in first_epoch) / steps
            if epoch_seconds <= FIRST_EPOCH_SHARE * self.budget_seconds:
                after_first = [loop for loop in after_first if loop[0] >= self.steps_per_epoch]
        return [(n, s) for _, n, s in after_first]

    def done(self) -> bool:
        """Whether the steady loops measured enough."""
        steady = self.steady
        timed = sum(seconds for _, seconds in steady)
        return len(steady) >= CALIBRATION_LOOPS and timed >= CALIBRATION_SECONDS

    def seconds_per_step(self) -> float:
        """Steady seconds per step."""
        steady = self.steady or [(n, s) for _, n, s in self.loops]
        return sum(s for _, s in steady) / sum(n for n, _ in steady)

    def startup_seconds(self) -> float:
        """From the budget's start to the end of the first loop, less that loop's steady time."""
        first_steps = self.loops[0][1]
        return max(0.0, self.first_loop_end - self.started - first_steps * self.seconds_per_step())

    def plan(self, settings: LoopSettings, eval_images: int, views: int) -> BudgetPlan:
        """The run's plan from what was measured, within `budget_seconds` (see `plan_budget`).

        Args:
            settings: the run's schedule.
            eval_images: images of one evaluation (0: no eval set).
            views: test-time views of each (1 without test-time averaging).
        """
        per_step = self.seconds_per_step()
        per_image = per_step / self.batch_size
        return plan_budget(
            self.budget_seconds / 60.0,
            settings,
            calibration_steps=self.step,
            seconds_per_step=per_step,
            startup_seconds=self.startup_seconds(),
            elapsed_seconds=self.clock() - self.started,
            eval_seconds=eval_images * views * per_image * EVAL_COST_RATIO,
        )


def recorded_budget(cfg: TrainConfig, strategy: tf.distribute.Strategy) -> BudgetPlan | None:
    """The length a calibration recorded in the run folder, for a budgeted run.

    Raises:
        ConfigError: on "time_budget_minutes": a multi-worker run, a budget other than the one
            the folder was planned for, or an unreadable budget.json.
    """
    minutes = cfg.time_budget_minutes
    if minutes is None:
        return None
    if is_multi_worker(strategy):
        raise ConfigError(
            "time_budget_minutes",
            minutes,
            reason="a time budget is measured and planned in one process; a multi-worker run "
            "sets its length with epochs or train_steps",
        )
    try:
        budget = BudgetPlan.read(cfg.model_dir)
    except ValueError as err:
        raise ConfigError("time_budget_minutes", minutes, reason=str(err)) from err
    if budget is not None and budget.minutes != minutes:
        raise ConfigError(
            "time_budget_minutes",
            minutes,
            reason=f"{cfg.model_dir} was planned for {budget.minutes:g} minutes "
            f"({budget.total_steps} steps, budget.json); resume with "
            f"--time_budget_minutes={budget.minutes:g}, or train in a new model_dir",
        )
    return budget
