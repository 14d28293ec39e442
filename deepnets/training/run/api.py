"""`train(cfg)`: one call from a `TrainConfig` to a trained, checkpointed, exported model.

It plans the run once (`plan_run`), makes the step runner from the plan (the deepnets model,
optimizer, schedule and input pipelines), writes the run record, runs the loop and saves the
final model. This module is the one place that joins the registry, the data package and the loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from deepnets import data
from deepnets.models.predictor import ImagePredictor
from deepnets.models.view_averaging import num_views
from deepnets.training.config import TrainConfig
from deepnets.training.loop.actions import Action
from deepnets.training.loop.results import TrainResult
from deepnets.training.loop.runner import StepRunner
from deepnets.training.optimization.optimizers import make_optimizer
from deepnets.training.reports.per_class import per_class_summary, write_per_class_reports
from deepnets.training.run.budget import CalibrationClock
from deepnets.training.run.budget_ledger import BudgetLedger
from deepnets.training.run.budget_schedule import fitted_warmup, run_schedule
from deepnets.training.run.model_setup import WHITENING_BATCH, WHITENING_IMAGES, new_model
from deepnets.training.run.plan import RunPlan, plan_run
from deepnets.training.run.run_loop import run_folder, run_loop
from deepnets.training.run.step_parts import loss_scaling, parts_from_config, step_settings
from deepnets.training.run_folder.export import save_final_model
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.run_record import RunRecord
from deepnets.training.runtime.kernel_verdicts import require_right_kernels

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
    """The step runner of a planned run: its model, optimizer, input pipelines and the parts
    its config turns on (`parts_from_config`).

    Creating it sets Keras' global random seed (Python, NumPy and TensorFlow) when the config
    has a seed, and enables op determinism process-wide when `deterministic` is set.
    """

    cfg = plan.config
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    eval_batch_size = cfg.eval_batch_size or cfg.global_batch_size
    augmentation = data.Augmentation(
        randaugment_ops=cfg.randaugment_ops,
        randaugment_magnitude=cfg.randaugment_magnitude,
        random_erasing=cfg.random_erasing,
        mixup_alpha=cfg.mixup_alpha,
        cutmix_alpha=cfg.cutmix_alpha,
        crop_padding=cfg.crop_padding,
        flip=cfg.flip,
    )
    source = plan.source  # opened once by the plan: every pipeline reads what it found

    def train_input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
        return source.train_dataset(
            cfg.global_batch_size,
            input_context=ctx,
            seed=epoch_seed(cfg.seed, epoch),
            cache=cfg.cache_images,
            augmentation=augmentation,
            epoch=epoch,
            flip_seed=cfg.seed or 0,
        )

    def eval_input_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return source.eval_dataset(eval_batch_size, input_context=ctx, pad_to_full_batches=True)

    def sample_images() -> tf.data.Dataset:  # what the network sees in training, classes mixed
        return source.train_dataset(
            WHITENING_BATCH,
            seed=epoch_seed(cfg.seed if cfg.seed is not None else 0, 0),
            shuffle_buffer=WHITENING_BATCH,
            cache=False,
            augmentation=augmentation,
        ).take(-(-WHITENING_IMAGES // WHITENING_BATCH))

    adapted: dict[str, list] = {}  # the data-set weights, computed once for every copy

    scaling = loss_scaling(plan)
    return StepRunner(
        plan.strategy,
        lambda: new_model(plan, sample_images, adapted),
        lambda variables: make_optimizer(cfg, schedule, variables, scaling),
        train_input_fn,
        step_settings(plan),
        eval_input_fn=eval_input_fn,
        parts=parts_from_config(plan, schedule),
    )


def _write_record(plan: RunPlan, runner: StepRunner) -> RunRecord:
    """The run's record, written into the run folder by the chief."""
    record = RunRecord.from_plan(plan, runner.export_model)
    if plan.chief:
        RunFolder(plan.model_dir).write_record(record)
    return record


def _run(
    plan: RunPlan,
    runner: StepRunner,
    schedule: keras.optimizers.schedules.LearningRateSchedule,
    actions: Sequence[Action],
    **options: Any,
) -> TrainResult:
    """`run_loop` over the plan's schedule (`options`: its `progress`, `stop_when` and
    `callbacks`)."""
    return run_loop(
        runner,
        plan.loop,
        model_dir=plan.model_dir,
        keep_checkpoints=plan.config.keep_checkpoints,
        learning_rate=lambda step: float(schedule(step)),
        extra_actions=actions,
        keep_best=plan.config.keep_best,
        early_stopping_patience=plan.config.early_stopping_patience,
        **options,
    )


def _calibrate(
    plan: RunPlan, started: float, extra_actions: Sequence[Action]
) -> tuple[RunPlan, TrainResult]:
    """A budgeted run's first steps (inside `train`'s hold on the run folder): trains them
    under the plan's provisional length while timing them, checkpoints, then fixes and records
    the run's length (see `deepnets.training.run.budget`).

    Returns:
        The plan with its budget, and the calibration's result; the plan has no budget when
        SIGTERM stopped the calibration (its checkpoint is kept: a rerun resumes it).
    """
    cfg = plan.config
    schedule = run_schedule(plan)
    runner = make_runner(plan, schedule)
    clock = CalibrationClock(
        started, cfg.global_batch_size, plan.loop.steps_per_epoch, cfg.time_budget_minutes * 60
    )
    _write_record(plan, runner)
    actions = [clock, *extra_actions]
    result = _run(plan, runner, schedule, actions, progress=False, stop_when=clock.done)
    if not clock.done():
        return plan, result
    eval_images = plan.dataset.eval_examples if runner.has_eval else 0
    views = num_views(cfg.eval_flip, cfg.eval_translate)
    budget = clock.plan(plan.loop, eval_images, views)
    if plan.chief:
        budget.write(plan.model_dir)
        print(budget.describe(plan.loop.steps_per_epoch, cfg.global_batch_size), flush=True)
    return plan.with_budget(budget), result


def restore_best(runner: StepRunner, result: TrainResult, chief: bool) -> None:
    """Puts the best checkpoint's state into `runner` for the export (`export='best'`) and, when
    it is not the last step's, evaluates it so that the per-class reports describe it."""
    path = result.best_checkpoint_path
    if path is None:  # no evaluation yet: the last state is the only one
        return
    tf.train.Checkpoint(**runner.checkpoint_objects()).read(path).expect_partial()
    runner.restored()
    if chief:
        print(f"Exporting the best checkpoint, {path} ({result.best_value:.4f}).", flush=True)
    if result.best_step != result.final_step and runner.has_eval:
        runner.evaluate()


def train(
    cfg: TrainConfig | RunPlan,
    strategy: tf.distribute.Strategy | None = None,
    extra_actions: Sequence[Action] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Trains `cfg.model` on `cfg.dataset` as the config says, resuming from `cfg.model_dir`.

    Writes into `cfg.model_dir` (`deepnets.training.run_folder.layout` lists the files):
    run.json (the run record; one that cannot be read is kept aside with a warning),
    checkpoints/, tensorboard/, metrics.csv, curves.png and, when the run completes, the
    per-class reports of the final evaluation, final.keras (the model, logits) and
    saved_model/ (see `deepnets.training.run_folder.serving`).

    Args:
        cfg: the run's config, or a plan already made from it (`plan_run`).
        strategy: a strategy to use instead of the config's (ignored with a plan).
        extra_actions: told about the run's loops and evaluations after the standard reports
            (e.g. to time them).
        callbacks: Keras callbacks (`EarlyStopping`, `CSVLogger`, your own), called as `fit`
            calls them (see `run_loop`); `model.stop_training` ends the run cleanly, with its
            final checkpoint, evaluation and export. A budgeted run's calibration steps do not
            call them.

    Returns:
        A `TrainResult`; `preempted` is True when SIGTERM stopped the run after a checkpoint.

    Raises:
        ConfigError: a setting that cannot be used, naming the field (see `plan_run`).
        CpuKernelError: oneDNN, turned on by `DEEPNETS_FAST_CPU_KERNELS=1`, computes one of
            the model's convolutions wrong on this CPU.
        NonFiniteLossError: when the loss becomes NaN/Inf (the last good checkpoint is kept).
        RunFolderError: another process trains in the folder (`RunLockedError`), a file could
            not be written (`OutputWriteError`), or no checkpoint can be read.
    """
    started = time.perf_counter()  # a time budget counts from here
    plan = cfg if isinstance(cfg, RunPlan) else plan_run(cfg, strategy)
    require_right_kernels(plan.model)  # where deepnets turned oneDNN on
    cfg = plan.config
    if plan.chief and cfg.mixed_precision == "auto":
        chosen = plan.mixed_precision or "float32"
        print(f"mixed_precision=auto: computing in {chosen} on this machine.", flush=True)
    # One writer from the calibration to the export: the lock is held to the end.
    with run_folder(plan.model_dir, plan.chief):
        calibrating = plan.needs_calibration
        if calibrating:
            plan, calibration = _calibrate(plan, started, extra_actions)
            if plan.budget is None:  # SIGTERM stopped the calibration at a checkpoint
                return calibration
        warmup_note = fitted_warmup(plan)[1]
        if plan.chief and warmup_note:
            print(warmup_note, flush=True)
        schedule = run_schedule(plan)
        runner = make_runner(plan, schedule)
        record = _write_record(plan, runner)
        ledger = BudgetLedger(cfg.global_batch_size) if calibrating else None
        actions = [*extra_actions, ledger] if ledger else extra_actions
        result = _run(plan, runner, schedule, actions, callbacks=callbacks)
        export_started = time.perf_counter()
        if not result.preempted:
            if cfg.export == "best":
                restore_best(runner, result, plan.chief)
            runner.sync_state()
            model = runner.export_model  # the weight average, with --ema_decay
            predictor = ImagePredictor(
                model,
                record.preprocessing,
                record.class_names,
                flip=cfg.eval_flip,
                translate=cfg.eval_translate,
            )
            result.final_model_path, result.saved_model_path = save_final_model(
                model,
                plan.model_dir,
                plan.strategy,
                saved_model=cfg.export_saved_model,
                predictor=predictor,
            )
            if plan.chief:
                print(f"Saved {result.final_model_path}", flush=True)
            if plan.chief and runner.has_eval:  # the last evaluation: the exported weights'
                confusion = runner.evaluator.confusion_matrix()
                write_per_class_reports(plan.model_dir, confusion, record.class_names)
                print(per_class_summary(confusion, record.class_names), flush=True)
            if plan.chief and ledger:  # the budget's whole run was this process's
                now = time.perf_counter()
                print(ledger.summary(plan.budget, now - export_started, now - started), flush=True)
    return result
