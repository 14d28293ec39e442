"""The bottom layer: what a run is asked to do.

`TrainConfig` (one field per flag, each with its help text and check), `ConfigError`, the input
settings and `ModelRecipe` (the registry name and arguments a run builds its model from). It
imports nothing else of `deepnets.training` but its errors.
"""

from deepnets.training.config.fields import ConfigError
from deepnets.training.config.model_recipe import ModelRecipe
from deepnets.training.config.train_config import TrainConfig

__all__ = ["ConfigError", "ModelRecipe", "TrainConfig"]
