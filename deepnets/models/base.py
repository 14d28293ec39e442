"""`ImageClassifier`: what every deepnets model shares.

A deepnets model is a Keras functional model wired in its constructor, as keras-hub's backbones
are: the subclass checks its arguments, applies its layers to a symbolic `keras.Input` and hands
inputs and outputs to `keras.Model.__init__`. Shapes, `summary()`, `count_params()` and feature
maps then come from the graph. This class adds what the families share: the config (the
constructor's arguments, stored under their own names), a `build()` that checks the shape it gets,
and the feature API (`feature_info`, `stage_outputs`, `feature_extractor`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from deepnets.checks import check_choice
from deepnets.layers.common import channel_axis, check_image_shape, serialize_regularizer

keras = tf.keras

# Keras layer arguments that `get_config` adds to the constructor's own.
_LAYER_ARGUMENTS = ("name", "trainable", "dtype")


@dataclass(frozen=True)
class FeatureStage:
    """A feature map that a model exposes.

    Attributes:
        name: its name, e.g. "C3" (C for convolutional stage, 3 for stride 2**3 in the ImageNet
            layout; keras.applications and detection libraries name ResNet stages C2..C5).
        layer: the name of the layer whose output it is.
        reduction: the product of the strides from the input to this map (nominal: a valid,
            unpadded pooling may give one pixel less than input_size / reduction).
    """

    name: str
    layer: str
    reduction: int


def constructor_arguments(cls: type) -> tuple[str, ...]:
    """The constructor arguments a model's config holds, besides Keras' name/trainable/dtype.

    Read from the signature, so the config cannot drift from what the constructor takes.

    Args:
        cls: an `ImageClassifier` subclass.

    Returns:
        The names of the parameters of `cls.__init__`, in order.
    """
    params = inspect.signature(cls.__init__).parameters.values()
    return tuple(
        p.name
        for p in params
        if p.name not in ("self", *_LAYER_ARGUMENTS)
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )


class ImageClassifier(keras.Model):
    """Base class of the deepnets models: a functional model with named feature stages.

    Subclasses wire their graph in `__init__` and call this constructor with it.

    Args:
        inputs: the `keras.Input` of the graph.
        outputs: the output tensor of the graph (class scores, or features).
        stages: the feature maps the model exposes, in order from the input.
        arguments: every constructor argument of the subclass except name and dtype, checked;
            each is stored as an attribute of the same name (input_shape excepted: Keras'
            `model.input_shape` already reports it, with the batch dimension first).
        dtype: the dtype policy of the model (its layers received it already).
        **kwargs: `keras.Model` arguments (name, trainable).
    """

    def __init__(
        self,
        inputs: Any,
        outputs: Any,
        *,
        stages: Sequence[FeatureStage],
        arguments: dict[str, Any],
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # The functional constructor ignores `dtype`; set the policy as keras-hub's Backbone does.
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        expected = set(constructor_arguments(type(self)))
        if set(arguments) != expected:  # a programming error in a subclass, caught at once
            raise TypeError(
                f"{type(self).__name__} stores {sorted(arguments)}, but its constructor takes "
                f"{sorted(expected)}."
            )
        for key, value in arguments.items():
            if key != "input_shape":
                setattr(self, key, value)
        self._feature_stages = tuple(stages)

    def build(self, input_shape: Any) -> None:
        """Check that `input_shape` fits the model; the graph is built at construction.

        Training code and users call `model.build((None, H, W, C))` on any Keras model; here it
        only raises when the shape is one the model cannot take.
        """
        if input_shape is not None:  # keras.Model's functional constructor calls build(None)
            shape = check_image_shape(type(self).__name__, input_shape, self.data_format)
            expected = tuple(self.input_shape)
            if any(
                a is not None and b is not None and a != b
                for a, b in zip(shape, expected, strict=True)
            ):
                raise ValueError(
                    f"{type(self).__name__} was constructed for inputs of shape {expected} "
                    f"(input_shape={expected[1:]}, data_format={self.data_format!r}) but "
                    f"build() got {shape}. Construct it with input_shape={shape[1:]} to use "
                    f"such images."
                )
        super().build(input_shape)

    def get_build_config(self) -> dict[str, Any]:
        # A functional model is built at construction: without a build() call, report the
        # input shape it was built for (trainers read it to export a serving signature).
        config = super().get_build_config()
        if not config or config.get("input_shape") is None:
            return {"input_shape": tuple(self.input_shape)}
        return config

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The feature maps of `stage_outputs`, in order from the input.

        Returns:
            One dict per stage: "name" (e.g. "C3"), "layer" (the layer whose output it is),
            "channels", and "reduction" (input size / feature-map size, nominal).
        """
        axis = channel_axis(self.data_format)
        return [
            {
                "name": stage.name,
                "layer": stage.layer,
                "channels": self.get_layer(stage.layer).output.shape[axis],
                "reduction": stage.reduction,
            }
            for stage in self._feature_stages
        ]

    def feature_extractor(self, stages: Sequence[str] | None = None) -> keras.Model:
        """A functional model that shares this model's layers and returns feature maps.

        Args:
            stages: the names of the maps to return (see `feature_info`); None for all.

        Returns:
            A `keras.Model` from images to a dict {name: feature map}, in the order of
            `feature_info`. It holds no weights of its own: training either trains both.

        Raises:
            ValueError: a name that is not one of the model's stages.
        """
        names = [stage.name for stage in self._feature_stages]
        wanted = names if stages is None else [check_choice("stages", s, names) for s in stages]
        outputs = {
            stage.name: self.get_layer(stage.layer).output
            for stage in self._feature_stages
            if stage.name in wanted
        }
        return keras.Model(self.inputs[0], outputs, name=f"{self.name}_features")

    def stage_outputs(self, images: Any, training: bool = False) -> dict[str, tf.Tensor]:
        """Run the model up to its last stage; return every stage's feature map by name.

        Args:
            images: a batch of images (array, tensor or `keras.Input`).
            training: BatchNorm, dropout and drop-path mode.

        Returns:
            dict from stage name (see `feature_info`) to feature map.
        """
        return self.feature_extractor()(images, training=training)

    def get_config(self) -> dict[str, Any]:
        # Not chained to keras.Model's: a functional model's config is its graph, which the
        # constructor cannot take. This config is the constructor's arguments (keras-hub).
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }
        for key in constructor_arguments(type(self)):
            if key == "input_shape":
                config[key] = tuple(self.input_shape[1:])
                continue
            value = getattr(self, key)
            if isinstance(value, keras.initializers.Initializer):
                value = keras.initializers.serialize(value)
            elif isinstance(value, keras.regularizers.Regularizer):
                value = serialize_regularizer(value)
            config[key] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImageClassifier:
        # keras.Model's from_config would rebuild a plain Functional from a graph config.
        return cls(**config)
