"""`StepPart`: one training option, plugged into the step, the runner and the checkpoints.

A part declares what it does and the runner and the step apply it; the step knows no option by
name. Each hook has a default that does nothing, so a part overrides only the few it needs:

- `build(setup)`: creates the part's state, inside `strategy.scope()`, once the model exists.
- `optimizer_variables(variables)`: which variables the runner's optimizer updates (a part with
  an optimizer of its own keeps its share).
- `trained(frozen)`: the forward pass and the variables differentiated, when the part changes
  them (a frozen backbone: the first `frozen_steps` steps).
- `transform_gradients(grads, variables)`: changes the gradients (weight decay, multipliers);
  inside the XLA-compiled part of the step when `jit_compile` is on.
- `observe_gradients(grads, frozen, last)`: looks at them (gradient norms).
- `apply_gradients(pairs, frozen)`: applies some (gradient, variable) pairs itself and returns
  the rest for the runner's optimizer.
- `after_update(step)`: changes the weights after the optimizer step (EMA, lookahead).
- `checkpoint_objects()`, `restored()`, `sync()`: what a checkpoint holds of it, what to take up
  after a restore, what to bring up to date before an evaluation or a save.
- `export_model(model)`: the model evaluated and exported (the moving average's).
- `loop_metrics(frozen)`, `loop_reports`: what a loop returns beside its metrics.

The step applies its parts in the order given, hook by hook (optax's `chain` of transforms, with
the state each part owns). The hooks the step calls (the forward pass of `trained`,
`transform_gradients`, `observe_gradients`, `apply_gradients`, `after_update`) are traced without
AutoGraph, like the whole loop: control flow on a tensor is written with `tf.cond` or
`tf.while_loop` (`GradientNorms.observe_gradients` does), and a Python `if` on one fails when the
loop is traced, naming the line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

keras = tf.keras

OptimizerFn = Callable[[Sequence[Any]], keras.optimizers.Optimizer]
Forward = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class PartSetup:
    """What a part may use to build its state (`StepPart.build`).

    Attributes:
        strategy: the run's strategy (`build` is called inside its scope).
        model: the trained model.
        model_fn: makes another model of the same architecture, under the run's dtype policy.
        total_steps: the step the run ends at, or None when the runner was not told.
        loss_scale: returns the loss scale the gradients carry (a variable, under
            mixed_float16) or None; call it in the step, when the optimizer exists.
    """

    strategy: tf.distribute.Strategy
    model: keras.Model
    model_fn: Callable[[], keras.Model]
    total_steps: int | None
    loss_scale: Callable[[], Any]


class StepPart:
    """A training option (see the module docstring); subclasses override the hooks they need.

    Attributes:
        frozen_steps: the first steps train in this part's frozen phase (`trained(True)`); the
            runner runs them in a loop of their own and never lets one loop cross the boundary.
        loop_reports: the entries `loop_metrics` adds to what `StepRunner.train` returns.
    """

    frozen_steps: int = 0
    loop_reports: frozenset[str] = frozenset()

    def build(self, setup: PartSetup) -> None:
        """Creates the part's state (called once, inside `strategy.scope()`)."""

    def optimizer_variables(self, variables: list[Any]) -> list[Any]:
        """Of `variables`, those the runner's optimizer updates (default: all)."""
        return variables

    def trained(self, frozen: bool) -> tuple[Forward, list[Any]] | None:
        """`(images -> outputs, variables to differentiate)` when this part changes the step
        (in a frozen phase), else None."""
        return None

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """The gradients of `variables` after this part (default: unchanged)."""
        return grads

    def observe_gradients(self, grads: list[Any], frozen: bool, last: tf.Tensor) -> None:
        """Sees the final gradients (`last`: a bool tensor, True on a loop's last step)."""

    def apply_gradients(self, pairs: list[tuple[Any, Any]], frozen: bool) -> list[tuple[Any, Any]]:
        """Applies the (gradient, variable) pairs this part updates; returns the others."""
        return pairs

    def after_update(self, step: tf.Tensor) -> None:
        """Runs after the optimizer's update; `step` is its iteration count (in the replica
        context)."""

    def checkpoint_objects(self) -> dict[str, Any]:
        """What a checkpoint holds of this part, by checkpoint key."""
        return {}

    def restored(self) -> None:
        """Takes up the state a checkpoint restored."""

    def sync(self) -> None:
        """Brings state up to date before an evaluation or a save."""

    def export_model(self, model: keras.Model) -> keras.Model:
        """The model to evaluate and save, given the one so far (default: that one)."""
        return model

    def loop_metrics(self, frozen: bool) -> dict[str, Any]:
        """Entries added to what a loop of `StepRunner.train` returns (keys: `loop_reports`)."""
        return {}


def built_optimizer(optimizer_fn: OptimizerFn, variables: list[Any]) -> keras.optimizers.Optimizer:
    """`optimizer_fn(variables)`, built on `variables` if it is not yet (its slots then exist
    before the first step and before a checkpoint restore)."""
    optimizer = optimizer_fn(variables)
    if not optimizer.built:
        optimizer.build(variables)
    return optimizer
