"""A run's starting weights, planned: fine-tuning settings that cannot work are refused before
anything is built, and the dataset is normalized as the starting weights expect."""

from __future__ import annotations

import dataclasses
import os

from deepnets.data import DatasetSource
from deepnets.models.imagenet_weights import IMAGENET_MODELS
from deepnets.training.config import ConfigError, TrainConfig
from deepnets.training.run_folder.initial_weights import IMAGENET, is_imagenet_weights_file
from deepnets.training.run_folder.run_record import RunRecord

# keras.applications has ImageNet weights of these; `load_imagenet_weights` checks the rest.
IMAGENET_WEIGHT_MODELS = IMAGENET_MODELS


def check_fine_tuning(cfg: TrainConfig) -> None:
    """Fine-tuning settings that cannot work, refused before anything is built."""
    path = cfg.init_weights
    if path is not None:
        if path != IMAGENET and not os.path.exists(path):
            raise ConfigError(
                "init_weights",
                path,
                reason=f"{path} does not exist; give {IMAGENET!r}, a keras.applications .h5 "
                "file, a deepnets run folder or a .keras file",
            )
        if is_imagenet_weights_file(path) and cfg.model not in IMAGENET_WEIGHT_MODELS:
            raise ConfigError(
                "init_weights",
                path,
                reason="keras.applications ImageNet weights fit "
                f"{', '.join(IMAGENET_WEIGHT_MODELS)}, not model={cfg.model!r}",
            )


def with_weights_preprocessing(cfg: TrainConfig, source: DatasetSource) -> DatasetSource:
    """The dataset with the normalization the starting weights expect: keras.applications
    ImageNet weights want "caffe" (BGR, ImageNet mean, no scaling); a deepnets run's weights want
    the mean and std that run used."""

    path = cfg.init_weights
    preprocessing = source.facts.preprocessing
    if path is None:
        return source
    if is_imagenet_weights_file(path):
        preprocessing = dataclasses.replace(preprocessing, normalization="caffe")
    elif os.path.isdir(path):
        trained = RunRecord.read(path).preprocessing
        preprocessing = dataclasses.replace(
            preprocessing, mean=trained.mean, std=trained.std, normalization=trained.normalization
        )
    return source.with_preprocessing(preprocessing)
