"""The training loop as a library: config, run plan, step runner, controller, actions.

    from deepnets.training import TrainConfig, train
    result = train(TrainConfig(model="resnet18", dataset="shapes10", epochs=5, model_dir="runs/r"))

The pieces, for programs of their own: `plan_run(cfg)` resolves a config once (dataset facts,
model, schedule, strategy); a `StepRunner` runs training steps and evaluations of any model on
any data, with the training options as parts (`deepnets.training.loop.parts`); a `Controller`
decides when to evaluate, checkpoint, report and stop; `run_loop` puts a runner, a controller,
checkpoints and the standard reports together.

Its sub-packages are layers, each importing only those below it (pyproject.toml's import
contracts hold them to it), top to bottom: `run` (plan, budget, the run assembly, `train`),
`reports` (progress, CSV, TensorBoard, pictures), `loop` (step and its parts, runner,
controller, evaluation) beside `run_folder` (record, checkpoints, lock, atomic writes, restore,
export to .keras, SavedModel, LiteRT and ONNX), `optimization` (optimizers, schedules,
averaging), `runtime` (machine, strategy, signals, CPU kernels), `config` (`TrainConfig`) and
`errors`.
"""

from deepnets.training.config import ConfigError, TrainConfig
from deepnets.training.errors import NonFiniteLossError, RunFolderError
from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.loop.controller import Controller, LoopSettings
from deepnets.training.loop.evaluation import (
    EvalResult,
    Evaluator,
    evaluate,
    evaluate_split,
    outputs_probabilities,
)
from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.loop.parts import (
    EMA,
    BackboneOptimizer,
    BatchNormRateMultipliers,
    FrozenBackbone,
    GradientNorms,
    L2Decay,
    Lookahead,
    PartSetup,
    StepPart,
)
from deepnets.training.loop.results import TrainResult
from deepnets.training.loop.runner import StepRunner, dtype_policy
from deepnets.training.loop.step import StepSettings
from deepnets.training.optimization.optimizers import (
    classification_loss,
    l2_weight_decay_loss,
    make_optimizer,
)
from deepnets.training.optimization.schedules import (
    ConstantWithWarmup,
    CosineWithWarmup,
    LinearWithWarmup,
    StepDecayWithWarmup,
    make_schedule,
)
from deepnets.training.reports.explain import explanation_figure, write_explanations
from deepnets.training.reports.per_class import per_class_summary, write_per_class_reports
from deepnets.training.run.api import epoch_seed, make_runner, train
from deepnets.training.run.plan import ModelRecipe, RunPlan, plan_run
from deepnets.training.run.run_loop import run_loop
from deepnets.training.run_folder.calibration import (
    calibration_images_of_folder,
    calibration_images_of_run,
)
from deepnets.training.run_folder.checkpointing import CheckpointKeeper
from deepnets.training.run_folder.export import (
    EXPORT_FORMATS,
    export_model,
    save_final_model,
    save_model_files,
)
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.portable import (
    QUANTIZATIONS,
    float32_predictor,
    portable_input_shape,
    require_export_packages,
)
from deepnets.training.run_folder.restore import restore_model
from deepnets.training.run_folder.run_record import RunRecord
from deepnets.training.run_folder.serving import save_serving_model
from deepnets.training.runtime.kernel_verdicts import kept_off, kernel_problem
from deepnets.training.runtime.machine import (
    BFLOAT16_UNITS,
    bfloat16_units,
    describe_machine,
    machine_facts,
)
from deepnets.training.runtime.strategy import (
    configure_cpu_replicas,
    configure_threads,
    is_chief,
    make_strategy,
    resolve_jit_compile,
)

__all__ = [
    "EMA",
    "Action",
    "BackboneOptimizer",
    "BatchNormRateMultipliers",
    "FrozenBackbone",
    "GradientNorms",
    "L2Decay",
    "Lookahead",
    "PartSetup",
    "BFLOAT16_UNITS",
    "EXPORT_FORMATS",
    "QUANTIZATIONS",
    "CheckpointKeeper",
    "ClassificationMetrics",
    "ConfigError",
    "ConstantWithWarmup",
    "Controller",
    "CosineWithWarmup",
    "EvalResult",
    "Evaluator",
    "LinearWithWarmup",
    "LoopReport",
    "LoopSettings",
    "ModelRecipe",
    "NonFiniteLossError",
    "RunFolder",
    "RunFolderError",
    "RunPlan",
    "RunRecord",
    "StepDecayWithWarmup",
    "StepPart",
    "StepRunner",
    "StepSettings",
    "TrainConfig",
    "TrainResult",
    "bfloat16_units",
    "calibration_images_of_folder",
    "calibration_images_of_run",
    "classification_loss",
    "configure_cpu_replicas",
    "configure_threads",
    "describe_machine",
    "dtype_policy",
    "epoch_seed",
    "evaluate",
    "evaluate_split",
    "explanation_figure",
    "export_model",
    "float32_predictor",
    "is_chief",
    "kept_off",
    "kernel_problem",
    "l2_weight_decay_loss",
    "machine_facts",
    "make_optimizer",
    "make_runner",
    "make_schedule",
    "make_strategy",
    "outputs_probabilities",
    "per_class_summary",
    "plan_run",
    "portable_input_shape",
    "require_export_packages",
    "resolve_jit_compile",
    "restore_model",
    "run_loop",
    "save_final_model",
    "save_model_files",
    "save_serving_model",
    "train",
    "write_explanations",
    "write_per_class_reports",
]
