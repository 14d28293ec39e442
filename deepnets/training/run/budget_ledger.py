"""Where a budgeted run's wall-clock went, against what its plan expected.

`plan_budget` (in `deepnets.training.run.budget`) estimates a run's parts from what the
calibration measured: the steps at the steady rate, a second start-up, each evaluation at a
ratio of a training step's time, the export at a ratio of a start-up. Checkpoints, the reports
drawn at each evaluation and the per-class reports at the end are not estimated apart. When a
run ends outside its budget, the line this ledger prints says which part went over, on the
machine where it happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.run.budget import EXPORT_STARTUP_RATIO, SPEED_MARGIN, BudgetPlan


class BudgetLedger(Action):
    """Sorts the time between the loop's events into start-up, training, evaluations and the
    rest (checkpoints and reports); `summary` compares them with the plan.

    Call it last among the actions: an interval ends when this action hears of the event, so
    the reports other actions draw at an evaluation count as the evaluation's.

    Args:
        batch_size: global batch size (turns a loop's images/s into its seconds).
        clock: the time source (tests pass a fake one).
    """

    def __init__(self, batch_size: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.batch_size = batch_size
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.seconds = {"start-up": 0.0, "training": 0.0, "evaluations": 0.0, "other": 0.0}
        self.steps = 0
        self.evaluations = 0

    def _lap(self) -> float:
        now = self.clock()
        seconds, self.last = now - self.last, now
        return seconds

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        self.seconds["start-up"] += self._lap()

    def on_train_loop(self, report: LoopReport) -> None:
        lap = self._lap()
        steady = report.num_steps * self.batch_size / report.images_per_sec
        self.seconds["training"] += min(lap, steady)
        self.seconds["start-up"] += max(0.0, lap - steady)  # the first loop's tracing
        self.steps += report.num_steps

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self.seconds["evaluations"] += self._lap()
        self.evaluations += 1

    def on_checkpoint(self, step: int, path: str | None) -> None:
        self.seconds["other"] += self._lap()

    def on_stop(self, step: int, path: str | None) -> None:
        self.seconds["other"] += self._lap()

    def summary(self, plan: BudgetPlan, export_seconds: float, total_seconds: float) -> str:
        """One line: each part's seconds against the plan's.

        Args:
            plan: the run's budget plan.
            export_seconds: what saving the final model and its reports took.
            total_seconds: the whole process, from the start of `train`.
        """
        step_seconds = plan.seconds_per_step * (1.0 + SPEED_MARGIN)
        planned = {
            "start-up": plan.startup_seconds,
            "training": self.steps * step_seconds,
            "evaluations": self.evaluations * plan.seconds_per_evaluation,
            "other": 0.0,
        }
        parts = [
            f"{name} {self.seconds[name]:.0f} s (planned {planned[name]:.0f})"
            for name in ("start-up", "training", "evaluations", "other")
        ]
        parts[2] = f"{self.evaluations} " + parts[2]
        parts[1] = f"{self.steps} steps' " + parts[1]
        export_planned = EXPORT_STARTUP_RATIO * plan.startup_seconds
        parts.append(f"export {export_seconds:.0f} s (planned {export_planned:.0f})")
        return (
            f"Time budget {plan.minutes:g} min: this process took {total_seconds / 60:.2f} min "
            f"(planned {plan.planned_seconds / 60:.2f}); after the calibration: "
            + ", ".join(parts)
            + "."
        )
