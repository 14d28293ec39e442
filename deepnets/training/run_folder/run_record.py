"""The run record: `run.json`, what makes a run folder usable without its dataset.

It holds the config, the model (registry name and resolved arguments, plus the Keras config of
the built model), the dataset's facts (class count and names, split sizes), the preprocessing
(pixel scaling, normalization, crop and resize policy, input shape) and the versions that wrote
it. Evaluation, export, prediction and fine-tuning read it and never load the dataset to learn
what the model is.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
from typing import Any

import tensorflow as tf

from deepnets.data import DatasetFacts, Preprocessing
from deepnets.training.config import TrainConfig
from deepnets.training.config.model_recipe import ModelRecipe
from deepnets.training.run_folder.atomic import atomic_write_text
from deepnets.training.run_folder.layout import NAMES
from deepnets.training.runtime.machine import machine_facts
from deepnets.version import __version__

keras = tf.keras

FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """The versions of deepnets, TensorFlow, Keras and Python running now."""
    return {
        "deepnets": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a run folder records about its run.

    Attributes:
        config: the run's config.
        model: the registry name and resolved arguments of the model.
        dataset: the dataset's facts, preprocessing included.
        keras_config: `keras.utils.serialize_keras_object(model)` of the built model: rebuilds
            the exact architecture even if the registry's defaults change later.
        versions: deepnets, TensorFlow, Keras and Python versions that wrote the record.
        machine: the machine that wrote it (`runtime.machine.machine_facts`: CPU model, usable
            CPUs, whether TensorFlow's oneDNN kernels were on and why, GPUs); a resumed run
            rewrites it, so it names the machine of the newest launch.
        written: ISO time of writing.
    """

    config: TrainConfig
    model: ModelRecipe
    dataset: DatasetFacts
    keras_config: dict[str, Any] | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=versions)
    machine: dict[str, Any] = dataclasses.field(default_factory=machine_facts)
    written: str = ""

    @property
    def preprocessing(self) -> Preprocessing:
        """How images become this model's inputs."""
        return self.dataset.preprocessing

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of one model input."""
        return self.dataset.input_shape

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names by label ("0", "1", ... when the dataset has none)."""
        names = self.dataset.class_names
        return tuple(names) if names else tuple(str(i) for i in range(self.dataset.num_classes))

    @classmethod
    def from_plan(cls, plan: Any, model: keras.Model | None = None) -> RunRecord:
        """The record of a planned run (a `RunPlan`; with the built model's Keras config, when
        given)."""
        keras_config = keras.utils.serialize_keras_object(model) if model is not None else None
        return cls(plan.config, plan.model, plan.dataset, keras_config)

    def build_model(self) -> keras.Model:
        """A new, built model of the recorded architecture (weights not loaded)."""
        if self.keras_config is not None:
            return keras.utils.deserialize_keras_object(self.keras_config)
        return self.model.build()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "format": FORMAT_VERSION,
            "written": self.written or datetime.datetime.now(datetime.UTC).isoformat(),
            "versions": dict(self.versions),
            "machine": dict(self.machine),
            "model": self.model.to_dict(),
            "input_shape": list(self.input_shape),
            "dataset": self.dataset.to_dict(),
            "config": self.config.to_dict(),
            "keras_config": self.keras_config,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """The inverse of `to_dict`."""
        return cls(
            config=TrainConfig.from_dict(values["config"]),
            model=ModelRecipe.from_dict(values["model"]),
            dataset=DatasetFacts.from_dict(values["dataset"]),
            keras_config=values.get("keras_config"),
            versions=dict(values.get("versions", {})),
            machine=dict(values.get("machine", {})),
            written=values.get("written", ""),
        )

    def write(self, model_dir: str) -> str:
        """Writes `model_dir/run.json` atomically; returns its path."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        return atomic_write_text(os.path.join(model_dir, NAMES["record"]), text)

    @classmethod
    def read(cls, model_dir: str) -> RunRecord:
        """Reads `model_dir/run.json`.

        Raises:
            FileNotFoundError: the folder is not a deepnets run folder (the message says so).
            ValueError: the file is not a run record this version can read.
        """
        path = os.path.join(model_dir, NAMES["record"])
        if not os.path.exists(path):
            hint = (
                " It holds a config.json: it was written by deepnets 0.1, whose run folders do "
                "not record the model's classes and preprocessing; retrain with this version."
                if os.path.exists(os.path.join(model_dir, NAMES["old_record"]))
                else ""
            )
            raise FileNotFoundError(
                f"{path} does not exist: {model_dir!r} is not the model_dir of a deepnets "
                f"training run.{hint}"
            )
        try:
            with open(path) as f:
                values = json.load(f)
            if values.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {values.get('format')!r}, expected {FORMAT_VERSION}")
            return cls.from_dict(values)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a run record this deepnets can read: {err}") from err
