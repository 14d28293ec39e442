"""The two ends every model wires the same way: its input and its top.

- `resolve_input_shape`: the checked `input_shape`, with the default that fits the head.
- `model_top`: the classifier head (`include_top`), global pooling (`pooling`) or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from deepnets.checks import ArgumentError, check_bool, check_choice, check_positive_int, is_int
from deepnets.layers.head import ClassifierHead, check_activation

keras = tf.keras

POOLINGS = (None, "avg", "max")


def check_top_arguments(
    num_classes: Any, include_top: Any, pooling: Any, classifier_activation: Any
) -> tuple[int, bool, str | None, Any]:
    """Check the arguments every model's top takes.

    Returns:
        (num_classes, include_top, pooling, classifier_activation), checked.
    """
    return (
        check_positive_int("num_classes", num_classes),
        check_bool("include_top", include_top),
        check_choice("pooling", pooling, POOLINGS),
        check_activation(classifier_activation),
    )


def resolve_input_shape(
    input_shape: Any,
    data_format: str,
    *,
    fixed_size: tuple[int, int] | None = None,
    owner: str = "",
    alternative: str = "",
) -> tuple[int | None, int | None, int | None]:
    """The shape of one input image, checked: `input_shape`, or the default when it is None.

    Args:
        input_shape: None, or (height, width, channels) ((channels, height, width) with
            channels_first); height and width may be None (any size), channels may not.
        data_format: "channels_last" or "channels_first".
        fixed_size: when the head flattens the last feature map into a Dense layer, the
            (height, width) to default to; the height and width must then be known. None when
            any size works (the default is then None x None).
        owner: the configuration that needs a fixed size, for the message, e.g.
            "VGG(head='fc', include_top=True)".
        alternative: how to do without a fixed size, for the message.

    Returns:
        The shape as a tuple in the data format's order.

    Raises:
        ArgumentError: (a ValueError) for a malformed shape, or an unknown size where the head
            needs a fixed one.
    """
    first = data_format == "channels_first"
    if input_shape is None:
        height, width = fixed_size or (None, None)
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
    if fixed_size is not None and None in spatial:
        example = (3, *fixed_size) if first else (*fixed_size, 3)
        raise ArgumentError(
            "input_shape",
            input_shape,
            "a fixed height and width",
            reason=(
                f"{owner} flattens its last feature map into a Dense layer, so it needs a fixed "
                f"height and width; got input_shape={shape}. Give a fixed size, e.g. "
                f"input_shape={example}, or {alternative}."
            ),
        )
    return shape


def model_top(
    x: Any,
    *,
    include_top: bool,
    num_classes: int,
    pooling: str | None,
    classifier_activation: Any,
    head_pooling: str,
    hidden_units: Sequence[int] = (),
    dropout: float = 0.0,
    kernel_regularizer: Any = None,
    data_format: str,
    dtype: Any,
    logit_scale: float = 1.0,
) -> Any:
    """Apply the top of a model to its last feature map `x`.

    Args:
        x: the last feature map (a symbolic tensor).
        include_top: end with a `ClassifierHead` named "classifier"; else `pooling` applies.
        num_classes, classifier_activation: of the classifier.
        pooling: without the classifier: None (keep the map), "avg" or "max" (global pooling).
        head_pooling, hidden_units, dropout, kernel_regularizer, logit_scale: `ClassifierHead`
            arguments.
        data_format: layout of `x`.
        dtype: dtype policy of the new layers (the classifier's last Dense runs in float32
            under a mixed policy).

    Returns:
        The model's output tensor.
    """
    if include_top:
        return ClassifierHead(
            num_classes,
            pooling=head_pooling,
            hidden_units=hidden_units,
            dropout=dropout,
            classifier_activation=classifier_activation,
            kernel_regularizer=kernel_regularizer,
            data_format=data_format,
            logit_scale=logit_scale,
            dtype=dtype,
            name="classifier",
        )(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(data_format, dtype=dtype, name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(data_format, dtype=dtype, name="max_pool")(x)
    return x
