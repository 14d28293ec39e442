"""Forward FLOPs of a model, counted from its convolution and dense layers.

Each `Conv2D` costs out_h * out_w * k_h * k_w * (c_in / groups) * c_out multiply-adds per image
and each `Dense` in_features * units; a multiply-add is 2 FLOPs. The shapes are recorded from
one eager forward pass on a single image, so any model built of Keras layers is counted,
whatever its nesting. BatchNorm, ReLU, pooling and additions are left out: they are memory-bound
and well under 1% of the arithmetic of these networks.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from deepnets.layers import PatchWhitening

keras = tf.keras


def _leaf_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    return [
        layer
        for layer in model._flatten_layers(include_self=False)  # noqa: SLF001 - Keras' own walk
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, PatchWhitening))
    ]


def layer_shapes(
    model: keras.Model, input_shape: tuple[int, int, int]
) -> list[tuple[keras.layers.Layer, tuple, tuple]]:
    """(layer, input shape, output shape) of every Conv2D, Dense and `PatchWhitening` layer, in
    the order one forward pass on one image of `input_shape` calls them (batch dimension 1)."""
    if not model.built:
        model.build((None, *input_shape))
    records: list[tuple[keras.layers.Layer, tuple, tuple]] = []
    leaves = _leaf_layers(model)
    for layer in leaves:

        def recording_call(inputs, *args, _layer=layer, _call=layer.call, **kwargs):
            outputs = _call(inputs, *args, **kwargs)
            records.append((_layer, tuple(inputs.shape), tuple(outputs.shape)))
            return outputs

        layer.call = recording_call  # an instance attribute shadows the class's call
    try:
        model(np.zeros((1, *input_shape), "float32"), training=False)
    finally:
        for layer in leaves:
            del layer.call
    return records


def conv_macs(layer: keras.layers.Layer, out_shape: tuple) -> int:
    """Multiply-accumulates per image of one convolution, from its output shape."""
    k_h, k_w, c_in_per_group, c_out = layer.kernel.shape
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    out_h, out_w = (out_shape[2], out_shape[3]) if first else (out_shape[1], out_shape[2])
    return int(out_h * out_w * k_h * k_w * c_in_per_group * c_out)


def forward_macs(model: keras.Model, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on one image of `input_shape` (H, W, C).

    Args:
        model: a Keras model (built or not).
        input_shape: image shape without the batch dimension, in the model's data format; it
            must fit the model's own input shape (a deepnets VGG with the "fc" head or an
            AlexNet with its classifier is constructed for one fixed size).

    Returns:
        Multiply-accumulates per image of every Conv2D and Dense layer (and every
        `PatchWhitening`, a convolution too).
    """
    total = 0
    for layer, in_shape, out_shape in layer_shapes(model, input_shape):
        if isinstance(layer, keras.layers.Dense):
            total += int(np.prod(in_shape[1:])) * layer.units
        else:
            total += conv_macs(layer, out_shape)
    return int(total)


def forward_flops(model: keras.Model, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass on one image: 2 x `forward_macs`."""
    return 2 * forward_macs(model, input_shape)
