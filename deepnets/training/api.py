"""`train(cfg)`: one call from a `TrainConfig` to a trained, checkpointed, exported model.

It plans the run once (`plan_run`), makes the step runner from the plan (the deepnets model,
optimizer, schedule and input pipelines), writes the run record, runs the loop and saves the
final model. This module is the one place that joins the registry, the data package and the loop.
"""

from __future__ import annotations

import tensorflow as tf

from deepnets.training.config import TrainConfig
from deepnets.training.export import save_final_model
from deepnets.training.loop import run_folder, run_loop
from deepnets.training.optim import make_optimizer
from deepnets.training.plan import RunPlan, plan_run
from deepnets.training.results import TrainResult
from deepnets.training.run_record import RunRecord
from deepnets.training.runner import StepRunner
from deepnets.training.schedules import make_schedule

keras = tf.keras


def epoch_seed(seed: int | None, epoch: int) -> int | None:
    """The input-pipeline seed of one epoch, derived from the run's seed.

    Args:
        seed: the run's seed (None: unseeded).
        epoch: 0-based epoch index.

    Returns:
        A seed in [0, 2**31), different for every epoch, or None.
    """
    if seed is None:
        return None
    return (seed * 1_000_003 + epoch * 7_919 + 1) % (2**31 - 1)


def make_runner(
    plan: RunPlan, schedule: keras.optimizers.schedules.LearningRateSchedule
) -> StepRunner:
    """The step runner of a planned run: its model, optimizer and input pipelines.

    Creating it sets Keras' global random seed (Python, NumPy and TensorFlow) when the config
    has a seed, and enables op determinism process-wide when `deterministic` is set.
    """
    from deepnets import data  # deferred: the training library imports without the data package

    cfg, facts = plan.config, plan.dataset
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    eval_batch_size = cfg.eval_batch_size or cfg.global_batch_size
    common = {"data_dir": cfg.data_dir, "download": False, "preprocessing": facts.preprocessing}

    def train_input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
        return data.make_train_dataset(
            facts.name,
            cfg.global_batch_size,
            input_context=ctx,
            seed=epoch_seed(cfg.seed, epoch),
            split=facts.train_split,
            **common,
        )

    def eval_input_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return data.make_eval_dataset(
            facts.name,
            eval_batch_size,
            input_context=ctx,
            split=facts.eval_split,
            pad_to_full_batches=True,
            **common,
        )

    l2 = cfg.weight_decay if cfg.resolved_weight_decay_mode == "l2" else 0.0
    runner = StepRunner(
        plan.strategy,
        plan.model.build,
        lambda variables: make_optimizer(cfg, schedule, variables),
        train_input_fn,
        steps_per_epoch=plan.loop.steps_per_epoch,
        global_batch_size=cfg.global_batch_size,
        num_classes=facts.num_classes,
        eval_input_fn=eval_input_fn,
        label_smoothing=cfg.label_smoothing,
        l2_decay=l2,
        mixed_precision=cfg.mixed_precision,
        jit_compile=plan.jit_compile,
    )
    return runner


def train(
    cfg: TrainConfig | RunPlan, strategy: tf.distribute.Strategy | None = None
) -> TrainResult:
    """Trains `cfg.model` on `cfg.dataset` as the config says, resuming from `cfg.model_dir`.

    Writes into `cfg.model_dir`: run.json (the run record), checkpoints/, tensorboard/,
    metrics.csv, curves.png and, when the run completes, final.keras and saved_model/.

    Args:
        cfg: the run's config, or a plan already made from it (`plan_run`).
        strategy: a strategy to use instead of the config's (ignored with a plan).

    Returns:
        A `TrainResult`; `preempted` is True when SIGTERM stopped the run after a checkpoint.

    Raises:
        ConfigError: a setting that cannot be used, naming the field (see `plan_run`).
        NonFiniteLossError: when the loss becomes NaN/Inf (the last good checkpoint is kept).
        RunFolderError: another process trains in the folder (`RunLockedError`), a file could
            not be written (`OutputWriteError`), or no checkpoint can be read.
    """
    plan = cfg if isinstance(cfg, RunPlan) else plan_run(cfg, strategy)
    cfg = plan.config
    schedule = make_schedule(cfg, plan.loop.steps_per_epoch, plan.loop.total_steps)
    runner = make_runner(plan, schedule)
    with run_folder(plan.model_dir, plan.chief):  # one writer: the lock is held to the end
        if plan.chief:
            RunRecord.from_plan(plan, runner.model).write(plan.model_dir)
        result = run_loop(
            runner,
            plan.loop,
            model_dir=plan.model_dir,
            keep_checkpoints=cfg.keep_checkpoints,
            learning_rate=lambda step: float(schedule(step)),
        )
        if not result.preempted:
            runner.sync_state()
            result.final_model_path, result.saved_model_path = save_final_model(
                runner.model, plan.model_dir, plan.strategy, saved_model=cfg.export_saved_model
            )
            if plan.chief:
                print(f"Saved {result.final_model_path}", flush=True)
    return result
