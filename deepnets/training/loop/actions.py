"""Actions: what the controller calls when something happens in a run.

An `Action` overrides the events it cares about (all are no-ops by default). The standard set
(`deepnets.training.reports.standard_actions`) writes what a user sees of a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from deepnets.training.loop.results import TrainResult


@dataclasses.dataclass(frozen=True)
class LoopReport:
    """What one training loop did.

    Attributes:
        step: the step the loop ended at.
        num_steps: steps in the loop.
        total_steps: the step the run ends at.
        steps_per_epoch: steps per epoch.
        metrics: the loop's {"loss", "top1", "top5", "examples"}.
        learning_rate: the rate of the loop's last step (None if unknown).
        images_per_sec: the loop's throughput.
        eta_seconds: time to the end of the run at this loop's speed.
        log: whether a progress line is due (`log_every_steps`).
        gradient_norms: {layer: gradient norm} of the loop's last step, when recorded.
    """

    step: int
    num_steps: int
    total_steps: int
    steps_per_epoch: int
    metrics: Mapping[str, float]
    learning_rate: float | None
    images_per_sec: float
    eta_seconds: float
    log: bool = True
    gradient_norms: Mapping[str, float] | None = None

    @property
    def epoch(self) -> float:
        """Epochs done, fractional."""
        return self.step / self.steps_per_epoch

    def row(self) -> dict[str, float]:
        """The loop as a metrics row (CSV, TensorBoard)."""
        row = dict(self.metrics, images_per_sec=self.images_per_sec)
        if self.learning_rate is not None:
            row["learning_rate"] = self.learning_rate
        return row


class Action:
    """Base class: every event is a no-op."""

    def on_start(self, step: int, total_steps: int, resumed_from: str | None) -> None:
        """The run starts at `step` (0, or the restored checkpoint's step)."""

    def on_loop_begin(self, step: int, num_steps: int) -> None:
        """A training loop of steps `step + 1 .. step + num_steps` begins."""

    def on_train_loop(self, report: LoopReport) -> None:
        """A training loop ended."""

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        """An evaluation of the weights of `step` ended."""

    def on_checkpoint(self, step: int, path: str | None) -> None:
        """A checkpoint of `step` was written."""

    def on_loop_end(self, step: int) -> None:
        """The loop that ended at `step` is done, with its evaluation and checkpoint if due."""

    def stop_reason(self) -> str | None:
        """Asked after `on_loop_end`: a reason ends the run there, cleanly, as at its last step
        (checkpoint, final evaluation, export); None trains on."""
        return None

    def on_stop(self, step: int, path: str | None) -> None:
        """A stop was requested (SIGTERM); the run checkpointed `step` and stops."""

    def on_end(self, result: TrainResult) -> None:
        """The controller returns `result`."""

    def close(self) -> None:
        """Releases files; called once, also after an error."""
