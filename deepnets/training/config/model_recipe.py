"""What model a run trains: a registry name and the arguments resolved for its dataset."""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from deepnets.models.registry import build_model
from deepnets.training.config.fields import ConfigError

keras = tf.keras


@dataclasses.dataclass(frozen=True)
class ModelRecipe:
    """What model a run trains: a registry name and the arguments resolved for the dataset.

    Attributes:
        name: the registry name, e.g. "resnet18".
        arguments: keyword arguments of `deepnets.build_model`, with `num_classes`,
            `input_shape` and `classifier_activation=None` (the loop trains on logits).
    """

    name: str
    arguments: dict[str, Any]

    def build(self) -> keras.Model:
        """A new model; bad argument values raise a `ConfigError` on `model_overrides`."""
        try:
            return build_model(self.name, **self.arguments)
        except (ValueError, TypeError) as err:
            raise ConfigError(
                "model_overrides", self.arguments, reason=str(err).strip().splitlines()[0]
            ) from err

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        arguments = {k: list(v) if isinstance(v, tuple) else v for k, v in self.arguments.items()}
        return {"name": self.name, "arguments": arguments}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelRecipe:
        """The inverse of `to_dict`."""
        arguments = dict(values["arguments"])
        if arguments.get("input_shape") is not None:
            arguments["input_shape"] = tuple(arguments["input_shape"])
        return cls(values["name"], arguments)
