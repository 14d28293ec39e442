"""What every model does the same way: check its shared arguments, make its input, end its graph.

- `check_common_arguments`: the top's arguments, `dropout` and the conv/BN options, checked;
  `conv_options`: the latter, for the model's blocks.
- `resolve_input_shape`: the checked `input_shape`, with the default that fits the head
  (`FixedInputSize` when the head flattens a map of one size).
- `model_top`: the classifier head (`include_top`, shaped by the family's `Head`), global pooling
  (`pooling`) or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from deepnets.checks import (
    ArgumentError,
    check_bool,
    check_choice,
    check_positive_int,
    check_rate,
    is_int,
)
from deepnets.layers.common import CONV_BN_OPTIONS, conv_bn_options
from deepnets.layers.head import ClassifierHead, check_activation

POOLINGS = (None, "avg", "max")
# The arguments of a model's top, and how each is checked.
_TOP_CHECKS: dict[str, Callable[[Any], Any]] = {
    "num_classes": lambda value: check_positive_int("num_classes", value),
    "include_top": lambda value: check_bool("include_top", value),
    "pooling": lambda value: check_choice("pooling", value, POOLINGS),
    "classifier_activation": check_activation,
    "dropout": lambda value: check_rate("dropout", value),
}
COMMON_ARGUMENTS = (*_TOP_CHECKS, *CONV_BN_OPTIONS)


def check_common_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Those of `arguments` that every model checks the same way, checked.

    Args:
        arguments: a model's constructor arguments by name.

    Returns:
        The checked values of the ones among `COMMON_ARGUMENTS` (the top's arguments, dropout,
        and the conv/BN options, resolved as `conv_bn_options` does).
    """
    top = {name: check(arguments[name]) for name, check in _TOP_CHECKS.items() if name in arguments}
    options = {name: arguments[name] for name in CONV_BN_OPTIONS if name in arguments}
    return {**top, **conv_bn_options(**options)}


def conv_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The conv/BN options among a model's checked arguments, to pass to its blocks."""
    return {name: arguments[name] for name in CONV_BN_OPTIONS}


@dataclass(frozen=True)
class FixedInputSize:
    """The input size a head needs when it flattens its last feature map into a Dense layer.

    Attributes:
        size: the (height, width) `input_shape` defaults to.
        owner: the configuration that needs it, for messages, e.g.
            "VGG(head='fc', include_top=True)".
        alternative: how to do without a fixed size, for messages.
    """

    size: tuple[int, int]
    owner: str
    alternative: str


def resolve_input_shape(
    input_shape: Any, data_format: str, fixed: FixedInputSize | None = None
) -> tuple[int | None, int | None, int | None]:
    """The shape of one input image, checked: `input_shape`, or the default when it is None.

    Args:
        input_shape: None, or (height, width, channels) ((channels, height, width) with
            channels_first); height and width may be None (any size), channels may not.
        data_format: "channels_last" or "channels_first".
        fixed: the size the head needs, when it flattens a feature map; then the height and
            width must be known. None when any size works (the default is then None x None).

    Returns:
        The shape as a tuple in the data format's order.

    Raises:
        ArgumentError: (a ValueError) for a malformed shape, or an unknown size where the head
            needs a fixed one.
    """
    first = data_format == "channels_first"
    if input_shape is None:
        height, width = fixed.size if fixed else (None, None)
        input_shape = (3, height, width) if first else (height, width, 3)
    layout = "(channels, height, width)" if first else "(height, width, channels)"
    allowed = f"a sequence {layout} of positive integers (height and width may be None)"
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ArgumentError("input_shape", input_shape, allowed)
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(d is None or (is_int(d) and d > 0) for d in shape):
        raise ArgumentError("input_shape", input_shape, allowed)
    if shape[0 if first else 2] is None:
        raise ArgumentError("input_shape", input_shape, f"{allowed}, with a known channel count")
    spatial = shape[1:] if first else shape[:2]
    if fixed is not None and None in spatial:
        example = (3, *fixed.size) if first else (*fixed.size, 3)
        raise ArgumentError(
            "input_shape",
            input_shape,
            "a fixed height and width",
            reason=(
                f"{fixed.owner} flattens its last feature map into a Dense layer, so it needs a "
                f"fixed height and width; got input_shape={shape}. Give a fixed size, e.g. "
                f"input_shape={example}, or {fixed.alternative}."
            ),
        )
    return shape


@dataclass(frozen=True)
class Head:
    """How a family's classifier head differs from the others'.

    Attributes:
        pooling: "avg" or "max" (global pooling) or "flatten" (every position, as VGG's).
        hidden_units: the hidden Dense+ReLU layers' widths, e.g. (4096, 4096).
        logit_scale: the logits are multiplied by it (1.0: not scaled).
    """

    pooling: str
    hidden_units: tuple[int, ...] = ()
    logit_scale: float = 1.0


def model_top(x: Any, arguments: Mapping[str, Any], head: Head, *, dtype: Any) -> Any:
    """Apply the top of a model to its last feature map `x`.

    Args:
        x: the last feature map (a symbolic tensor).
        arguments: the model's checked arguments: `include_top` (end with a `ClassifierHead`
            named "classifier", of `num_classes`, `classifier_activation`, `dropout` and
            `kernel_regularizer`, shaped by `head`) or else `pooling` (None keeps the map,
            "avg" or "max" pools it), and `data_format`.
        head: the family's head.
        dtype: dtype policy of the new layers (the classifier's last Dense runs in float32
            under a mixed policy).

    Returns:
        The model's output tensor.
    """
    data_format = arguments["data_format"]
    if arguments["include_top"]:
        return ClassifierHead(
            arguments["num_classes"],
            pooling=head.pooling,
            hidden_units=head.hidden_units,
            dropout=arguments["dropout"],
            classifier_activation=arguments["classifier_activation"],
            kernel_regularizer=arguments["kernel_regularizer"],
            data_format=data_format,
            logit_scale=head.logit_scale,
            dtype=dtype,
            name="classifier",
        )(x)
    if arguments["pooling"] == "avg":
        return keras.layers.GlobalAveragePooling2D(data_format, dtype=dtype, name="avg_pool")(x)
    if arguments["pooling"] == "max":
        return keras.layers.GlobalMaxPooling2D(data_format, dtype=dtype, name="max_pool")(x)
    return x
