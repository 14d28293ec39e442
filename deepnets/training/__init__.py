"""The training loop as a library: config, strategy, schedules, optimizer, loop, checkpoints.

from deepnets.training import TrainConfig, train
result = train(TrainConfig(model="resnet18", dataset="shapes10", epochs=5, model_dir="runs/r18"))
"""

from deepnets.training.api import build_model_from_config, epoch_seed, train
from deepnets.training.checkpointing import CheckpointKeeper
from deepnets.training.config import TrainConfig
from deepnets.training.errors import NonFiniteLossError
from deepnets.training.evaluation import Evaluator, evaluate
from deepnets.training.loop import Trainer
from deepnets.training.metrics import ClassificationMetrics
from deepnets.training.optim import classification_loss, l2_weight_decay_loss, make_optimizer
from deepnets.training.results import TrainResult
from deepnets.training.schedules import (
    ConstantWithWarmup,
    CosineWithWarmup,
    StepDecayWithWarmup,
    make_schedule,
)
from deepnets.training.strategy import configure_cpu_replicas, is_chief, make_strategy

__all__ = [
    "CheckpointKeeper",
    "ClassificationMetrics",
    "ConstantWithWarmup",
    "CosineWithWarmup",
    "Evaluator",
    "NonFiniteLossError",
    "StepDecayWithWarmup",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_model_from_config",
    "classification_loss",
    "configure_cpu_replicas",
    "epoch_seed",
    "evaluate",
    "is_chief",
    "l2_weight_decay_loss",
    "make_optimizer",
    "make_schedule",
    "make_strategy",
    "train",
]
