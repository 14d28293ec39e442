"""The best evaluation so far, early stopping by patience, and a run's recorded early stop.

`Stopping` follows one evaluated metric (`val_loss`, `val_top1`, `val_top5`; losses are
minimised, accuracies maximised) through the run's evaluations. It says when an evaluation is
the best so far (the controller then checkpoints that step and keeps it as the best), and when
`patience` evaluations in a row did not improve on the best (the run then stops cleanly).

Its state is the list of the run's evaluations of the metric, by step, and the step of an early
stop. A `StoppingStore` (the run folder's, `deepnets.training.run_folder.best_checkpoint`) keeps
it crash-safe: on resume from a checkpoint of step `c`, the evaluations after `c` are forgotten
(the resumed run does them again), so the best value and the evaluations waited since are those
the checkpoint's state had reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from deepnets import checks
from deepnets.training.config import ConfigError
from deepnets.training.config.stopping import EVAL_METRICS


def maximised(metric: str) -> bool:
    """Whether a larger `metric` is better (accuracies) rather than a smaller one (losses)."""
    return not metric.endswith("loss")


def check_metric(name: str, metric: Any, owner: str | None = None) -> str:
    """`metric` if it is one of `EVAL_METRICS`, else an `ArgumentError` listing them."""
    return checks.check_choice(name, metric, EVAL_METRICS, owner=owner)


class StoppingStore(Protocol):
    """Where `Stopping` keeps its state and the best checkpoint (the chief's run folder)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...

    def keep_best(self, step: int, checkpoint: str | None) -> str | None: ...

    def resumed(self, best_step: int | None) -> str | None: ...


class Stopping:
    """The best evaluation, patience and early stop of one run.

    Args:
        metric: the evaluated metric followed (one of `EVAL_METRICS`), or None to follow none
            (then only an early stop is recorded).
        patience: evaluations without improvement that end the run (None: never).
        store: keeps the state and the best checkpoint (None: kept in memory only).

    Raises:
        ArgumentError: `metric` is not an evaluated metric, or `patience` is not a positive int.
    """

    def __init__(
        self,
        metric: str | None = None,
        patience: int | None = None,
        store: StoppingStore | None = None,
    ) -> None:
        if patience is not None:
            checks.check_positive_int("early_stopping_patience", patience, owner="Stopping")
            metric = metric or "val_loss"  # Keras' EarlyStopping default
        if metric is not None:
            check_metric("keep_best", metric, owner="Stopping")
        self.metric = metric
        self.patience = patience
        self.store = store
        self.evaluations: list[tuple[int, float]] = []
        self.stopped: tuple[int, str] | None = None
        self.best_path: str | None = None

    @property
    def best(self) -> tuple[int, float] | None:
        """(step, value) of the best evaluation so far (the first of equal ones), or None."""
        best = None
        for step, value in self.evaluations:
            if best is None or self._better(value, best[1]):
                best = (step, value)
        return best

    @property
    def waited(self) -> int:
        """Evaluations since the best one."""
        best = self.best
        return 0 if best is None else sum(step > best[0] for step, _ in self.evaluations)

    def _better(self, value: float, than: float) -> bool:
        return value > than if maximised(self.metric) else value < than

    def _state(self) -> dict[str, Any]:
        best = self.best
        return {
            "metric": self.metric,
            "mode": None if self.metric is None else ("max" if maximised(self.metric) else "min"),
            "patience": self.patience,
            "evaluations": [[step, value] for step, value in self.evaluations],
            "best_step": None if best is None else best[0],
            "best_value": None if best is None else best[1],
            "evaluations_waited": self.waited,
            "stopped": None
            if self.stopped is None
            else {"step": self.stopped[0], "reason": self.stopped[1]},
        }

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(self._state())

    def resume(self, step: int) -> str | None:
        """Takes up the stored state of a run restored at `step`.

        Returns:
            The reason the run stopped early at `step` (it is then complete), or None.

        Raises:
            ConfigError: the stored state follows another metric than this run's.
        """
        state = self.store.load() if self.store is not None else None
        if state:
            stored_metric = state.get("metric")
            if self.metric is not None and stored_metric not in (None, self.metric):
                raise ConfigError(
                    "keep_best",
                    self.metric,
                    reason=f"this run folder keeps the best by {stored_metric!r}: resume it with "
                    f"keep_best={stored_metric!r}, or use another run folder",
                )
            if self.metric is not None:
                self.evaluations = [(s, v) for s, v in state.get("evaluations", []) if s <= step]
            stopped = state.get("stopped")
            if stopped and stopped["step"] == step:
                self.stopped = (stopped["step"], stopped["reason"])
        if self.store is not None and self.metric is not None:
            best = self.best
            self.best_path = self.store.resumed(None if best is None else best[0])
        if self.stopped is not None:
            return self.stopped[1]
        return self.patience_exhausted()

    def observe(self, step: int, metrics: Mapping[str, float]) -> bool:
        """Records the evaluation of `step` (before the run checkpoints it).

        Returns:
            Whether it is the best so far: the caller checkpoints `step` and calls `keep_best`.
        """
        if self.metric is None:
            return False
        key = self.metric.removeprefix("val_")
        if key not in metrics:
            raise ValueError(
                f"keep_best={self.metric!r}: the evaluation has no {key!r}; it has "
                f"{sorted(metrics)}. Choose one of {EVAL_METRICS}."
            )
        best = self.best
        value = float(metrics[key])
        self.evaluations = [(s, v) for s, v in self.evaluations if s != step]
        self.evaluations.append((step, value))
        self._save()  # before the checkpoint of `step`: a resume from it knows this evaluation
        return best is None or self._better(value, best[1])

    def keep_best(self, step: int, checkpoint: str | None) -> None:
        """Keeps `checkpoint` (of `step`, just written) as the best one."""
        if self.store is not None:
            self.best_path = self.store.keep_best(step, checkpoint)

    def patience_exhausted(self) -> str | None:
        """Why the run should stop now (patience used up), or None."""
        if self.patience is None or self.waited < self.patience:
            return None
        step, value = self.best
        return (
            f"early_stopping_patience={self.patience}: {self.metric} has not improved on "
            f"{value:.4g} (step {step}) in {self.waited} evaluations"
        )

    def record_stop(self, step: int, reason: str) -> None:
        """Records that the run stopped early at `step` (after its checkpoint of `step`)."""
        self.stopped = (step, reason)
        self._save()
