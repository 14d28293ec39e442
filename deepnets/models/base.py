"""`ImageClassifier`: the skeleton every deepnets model shares.

A deepnets model is a Keras functional model wired in its constructor, as keras-hub's backbones
are. Shapes, `summary()`, `count_params()` and feature maps then come from the graph. Every family
wires it the same way, so this class does it once, and a family says only what is its own:

1. check the arguments: the shared ones here (`check_common_arguments`: the top's, dropout, the
   conv/BN options), the family's in its `_check_arguments`;
2. the input: a `keras.Input` of the checked `input_shape`, whose default fits the family's head
   (`_fixed_input_size`);
3. the family's layers: `_backbone(inputs, arguments, dtype)` gives the last feature map and
   the feature stages;
4. the top (`model_top`): the classifier shaped by the family's `_head`, global pooling, or
   nothing;
5. every argument is stored as an attribute of its own name, and `get_config` returns them.

A family's constructor declares its arguments (signature, docstring) and hands them over with
`super().__init__(locals(), **kwargs)`. Arguments renamed since 0.2 (`RENAMED_ARGUMENTS`) are
still read under their old names.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import keras

from deepnets.checks import check_choice
from deepnets.layers.common import channel_axis, check_image_shape, serialize_regularizer
from deepnets.layers.renamed import Renamed, pop_renamed
from deepnets.models.common import (
    COMMON_ARGUMENTS,
    FixedInputSize,
    Head,
    check_common_arguments,
    model_top,
    resolve_input_shape,
)

# Keras layer arguments that every model takes and `get_config` adds to the constructor's own.
LAYER_ARGUMENTS = ("name", "trainable", "dtype")


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
        if p.name not in ("self", *LAYER_ARGUMENTS)
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )


def _defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not p.empty}


class ImageClassifier(keras.Model):
    """Base class of the deepnets models: a functional model with named feature stages.

    A subclass's `__init__` declares its arguments and calls `super().__init__(locals(),
    **kwargs)`; it defines `_check_arguments`, `_backbone` and `_head`, and
    `_fixed_input_size` if its head flattens.

    Args:
        arguments: the subclass constructor's arguments by name (its `locals()`; other names
            in it, such as `self`, are ignored), `dtype` included.
        **kwargs: `keras.Model` arguments (name, trainable), and arguments under the 0.2 names
            of `RENAMED_ARGUMENTS`.
    """

    # Arguments renamed since 0.2: {old name: Renamed(new name, old values -> new values)}.
    RENAMED_ARGUMENTS: ClassVar[dict[str, Renamed]] = {}

    def __init__(self, arguments: Mapping[str, Any], **kwargs: Any) -> None:
        cls = type(self)
        given = {name: arguments[name] for name in constructor_arguments(cls)}
        given.update(
            pop_renamed(cls.__name__, kwargs, cls.RENAMED_ARGUMENTS, given, _defaults(cls))
        )
        checked = check_common_arguments(given)
        own = {name: value for name, value in given.items() if name not in COMMON_ARGUMENTS}
        checked.update(cls._check_arguments({**own, **checked}))
        if set(checked) != set(given) - {"input_shape"}:  # a subclass's error, caught at once
            raise TypeError(
                f"{cls.__name__}._check_arguments returned {sorted(checked)}, but the "
                f"constructor takes {sorted(given)}."
            )
        checked["input_shape"] = resolve_input_shape(
            given["input_shape"], checked["data_format"], cls._fixed_input_size(checked)
        )
        policy = keras.dtype_policies.get(arguments.get("dtype"))

        inputs = keras.Input(shape=checked["input_shape"], name="images")
        features, stages = cls._backbone(inputs, checked, policy)
        outputs = model_top(features, checked, cls._head(checked), dtype=policy)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # The functional constructor ignores `dtype`; set the policy as keras-hub's Backbone does.
        self.dtype_policy = policy
        for name, value in checked.items():
            if name != "input_shape":  # Keras' `model.input_shape` reports it, batch first
                setattr(self, name, value)
        self._feature_stages = tuple(stages)

    @classmethod
    def _check_arguments(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        """The family's own arguments, checked.

        Args:
            arguments: every constructor argument; the shared ones (`COMMON_ARGUMENTS`) are
                checked already, the family's are as given.

        Returns:
            The checked value of every argument that is not in `COMMON_ARGUMENTS` or
            `input_shape`.
        """
        raise NotImplementedError

    @classmethod
    def _fixed_input_size(cls, arguments: dict[str, Any]) -> FixedInputSize | None:
        """The input size the head needs (it flattens a feature map), or None for any size."""
        return None

    @classmethod
    def _backbone(
        cls, inputs: Any, arguments: dict[str, Any], dtype: Any
    ) -> tuple[Any, Sequence[FeatureStage]]:
        """Apply the family's layers to `inputs`.

        Args:
            inputs: the `keras.Input`.
            arguments: every argument, checked (`input_shape` resolved).
            dtype: the dtype policy of the layers.

        Returns:
            The last feature map, and the feature maps the model exposes, from the input on.
        """
        raise NotImplementedError

    @classmethod
    def _head(cls, arguments: dict[str, Any]) -> Head:
        """How the family's classifier head pools and what it adds."""
        raise NotImplementedError

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

    def stage_outputs(self, images: Any, training: bool = False) -> dict[str, Any]:
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
