"""The run plan: a config resolved once into everything a training run needs.

`plan_run(cfg)` validates the config, creates the strategy, opens the dataset, resolves
the model (registry name + arguments for this dataset) and the loop schedule, once. Everything
downstream takes the plan or the narrow part of it it needs. Every problem surfaces here, before
any weight exists, as a `ConfigError` that names the field to blame.
"""

from __future__ import annotations

import dataclasses
import difflib

import tensorflow as tf

from deepnets.data import DatasetFacts, DatasetSource, DatasetUnavailableError, open_dataset
from deepnets.models import get_model_spec, list_models
from deepnets.training.config import ConfigError, TrainConfig
from deepnets.training.config.model_recipe import ModelRecipe
from deepnets.training.loop.controller import LoopSettings
from deepnets.training.run.budget import PROVISIONAL_EPOCHS, BudgetPlan, recorded_budget
from deepnets.training.run.starting_weights import check_fine_tuning, with_weights_preprocessing
from deepnets.training.runtime.strategy import (
    configure_threads,
    is_chief,
    make_strategy,
    resolve_jit_compile,
    resolve_mixed_precision,
)

keras = tf.keras

# Set by the run itself; a model override may not change them.
_RUN_OWNED_ARGUMENTS = ("num_classes", "classifier_activation", "input_shape")


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """Everything resolved about one training run.

    Attributes:
        config: the validated config.
        source: the dataset, opened once: its facts and its input pipelines; `dataset` is its
            facts (classes, split sizes, preprocessing).
        model: the model to build.
        loop: the schedule in steps.
        strategy: the distribution strategy.
        jit_compile: whether the step is compiled with XLA.
        mixed_precision: the Keras dtype policy the model computes in (`mixed_precision`
            resolved for the run's devices), or None for float32.
        budget: with `time_budget_minutes`, the length the calibration fixed (`loop` then
            ends there); None before the calibration (`loop` then has the provisional
            length) or without a budget.
    """

    config: TrainConfig
    source: DatasetSource
    model: ModelRecipe
    loop: LoopSettings
    strategy: tf.distribute.Strategy
    jit_compile: bool
    mixed_precision: str | None = None
    budget: BudgetPlan | None = None

    @property
    def dataset(self) -> DatasetFacts:
        """The dataset's facts: classes, split sizes, preprocessing."""
        return self.source.facts

    @property
    def needs_calibration(self) -> bool:
        """Whether the run must first measure its step rate (`time_budget_minutes`)."""
        return self.config.time_budget_minutes is not None and self.budget is None

    def with_budget(self, budget: BudgetPlan) -> RunPlan:
        """The plan with the length a calibration fixed."""
        loop = dataclasses.replace(self.loop, total_steps=budget.total_steps)
        return dataclasses.replace(self, loop=loop, budget=budget)

    @property
    def model_dir(self) -> str:
        """The run folder."""
        return self.config.model_dir

    @property
    def freeze_backbone_steps(self) -> int:
        """The first steps, which train the classifier alone (`freeze_backbone_epochs`)."""
        return self.config.freeze_backbone_epochs * self.loop.steps_per_epoch

    @property
    def chief(self) -> bool:
        """Whether this process writes the run folder."""
        return is_chief(self.strategy)


def resolve_model(cfg: TrainConfig, dataset: DatasetFacts) -> ModelRecipe:
    """The model recipe of `cfg` for `dataset`, with override names checked (values are checked
    when the model is built).

    Raises:
        ConfigError: unknown model name (field "model"), or an override the model does not
            take, that its name fixes, or that the run sets itself (field "model_overrides").
    """
    try:
        spec = get_model_spec(cfg.model)
    except ValueError as err:
        allowed = f"one of {', '.join(list_models())}"
        raise ConfigError("model", cfg.model, allowed, reason=str(err)) from None
    overrides = dict(cfg.model_overrides)
    allowed = spec.allowed_overrides()
    for key in overrides:
        if key in spec.fixed:
            reason = f"{cfg.model} fixes `{key}`={spec.fixed[key]!r}; choose another model name"
        elif key in _RUN_OWNED_ARGUMENTS:
            reason = (
                f"`{key}` is set by the run (the dataset's {dataset.num_classes} classes, its "
                "input shape, logits for the loss); remove it from the overrides"
            )
        elif key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            reason = f"{cfg.model} has no argument `{key}`.{hint} It takes: {', '.join(allowed)}"
        else:
            continue
        raise ConfigError("model_overrides", overrides, reason=reason)
    arguments = {
        **overrides,
        "num_classes": dataset.num_classes,
        "input_shape": dataset.input_shape,
        "classifier_activation": None,
    }
    return ModelRecipe(cfg.model, arguments)


def plan_run(cfg: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> RunPlan:
    """Resolves a training run once: config, strategy, dataset, model and schedule.

    Call it first in a program: with `cfg.cpu_replicas > 1` it splits the CPU, and with
    `intra_op_threads` or `inter_op_threads` it sizes the thread pools, which must happen
    before TensorFlow runs any op.

    Args:
        cfg: the run's config.
        strategy: a strategy to use instead of the one `cfg.strategy` asks for.

    Returns:
        The `RunPlan`.

    Raises:
        ConfigError: naming the field to blame (a bad value, an unavailable dataset, a batch
            that does not divide over the replicas or is larger than the dataset, ...).
    """
    cfg.validate()
    check_fine_tuning(cfg)
    for field, pool in (("intra_op_threads", "intra_op"), ("inter_op_threads", "inter_op")):
        try:
            configure_threads(**{pool: getattr(cfg, field)})
        except RuntimeError as err:
            raise ConfigError(field, getattr(cfg, field), reason=str(err)) from err
    if strategy is None:
        try:
            strategy = make_strategy(cfg)
        except (ValueError, RuntimeError) as err:
            raise ConfigError("strategy", cfg.strategy, reason=str(err)) from err
    mixed_precision = resolve_mixed_precision(cfg.mixed_precision, strategy)
    if cfg.backbone_learning_rate_multiplier != 1.0 and mixed_precision == "mixed_float16":
        chosen = (
            " (what mixed_precision='auto' chose here)" if cfg.mixed_precision == "auto" else ""
        )
        raise ConfigError(
            "backbone_learning_rate_multiplier",
            cfg.backbone_learning_rate_multiplier,
            reason=f"a separate backbone learning rate does not work with loss scaling "
            f"(mixed_float16{chosen}): use 1.0, or mixed_bfloat16 or float32",
        )
    replicas = strategy.num_replicas_in_sync
    if cfg.global_batch_size % replicas:
        raise ConfigError(
            "global_batch_size",
            cfg.global_batch_size,
            reason=f"{cfg.global_batch_size} is not divisible by the {replicas} replicas of the "
            f"{type(strategy).__name__}; use a multiple of {replicas}",
        )
    try:
        source = open_dataset(
            cfg.dataset,
            image_size=cfg.image_size,
            data_dir=cfg.data_dir,
            download=cfg.download,
            validation_split=cfg.validation_split,
        )
    except DatasetUnavailableError as err:
        raise ConfigError("dataset", cfg.dataset, reason=str(err)) from err
    dataset = source.facts
    steps_per_epoch = dataset.train_examples // cfg.global_batch_size
    if steps_per_epoch < 1:
        raise ConfigError(
            "global_batch_size",
            cfg.global_batch_size,
            reason=f"{cfg.global_batch_size} is larger than the {dataset.train_examples} "
            f"training examples of {cfg.dataset!r}",
        )
    source = with_weights_preprocessing(cfg, source)
    budget = recorded_budget(cfg, strategy)
    if budget is not None:
        total_steps = budget.total_steps
    elif cfg.time_budget_minutes is not None:
        total_steps = PROVISIONAL_EPOCHS * steps_per_epoch
    else:
        total_steps = cfg.train_steps or cfg.epochs * steps_per_epoch
    freeze_steps = cfg.freeze_backbone_epochs * steps_per_epoch  # phases end loops
    loop = LoopSettings(
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        steps_per_loop=cfg.steps_per_loop,
        eval_every_steps=cfg.eval_every_steps,
        checkpoint_every_steps=cfg.checkpoint_every_steps,
        log_every_steps=cfg.log_every_steps,
        phase_steps=(freeze_steps,) if freeze_steps else (),
    )
    return RunPlan(
        config=cfg,
        source=source,
        model=resolve_model(cfg, source.facts),
        loop=loop,
        strategy=strategy,
        jit_compile=resolve_jit_compile(cfg.jit_compile, strategy),
        mixed_precision=mixed_precision,
        budget=budget,
    )
