"""BatchNormalization on TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes moments, the normalization and the moving averages with
separate elementwise ops on TensorFlow; `FusedBatchNormV3` does the normalization (and its
gradient) in one kernel, which matters on a CPU, where a ResNet spends a large share of its step
in these ops. This subclass uses the fused kernel for 4-D inputs on the TensorFlow backend and
Keras' own path otherwise (other ranks or backends, masks, `synchronized=True`). Weights, config
and results are Keras': the fused op normalizes with the biased batch variance, as Keras does,
and returns an unbiased one, which is turned back into the biased variance Keras averages into
`moving_variance`. Under a mixed policy the input is float16 or bfloat16 and the statistics float32,
as the kernel expects.
"""

from __future__ import annotations

from typing import Any

import keras

_FORMATS = {3: "NHWC", 1: "NCHW"}


@keras.utils.register_keras_serializable(package="deepnets")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights and config) on the fused
    kernel where it applies."""

    use_fused_kernel = True
    """Class-wide switch: False sends every instance down Keras' own path (to measure what the
    fused kernel buys: `python -m experiments.fused_batchnorm`). It is read when a call is
    traced."""

    def _fused_format(self, inputs: Any, training: Any, mask: Any) -> str | None:
        """ "NHWC"/"NCHW" when the fused kernel computes what Keras would, else None."""
        if not self.use_fused_kernel or keras.backend.backend() != "tensorflow":
            return None
        if mask is not None or self.synchronized:
            return None
        if len(inputs.shape) != 4 or not isinstance(training, (bool, type(None))):
            return None
        axis = self.axis if isinstance(self.axis, int) else None
        return _FORMATS.get(axis % 4) if axis is not None else None

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        data_format = self._fused_format(inputs, training, mask)
        if data_format is None:
            return super().call(inputs, training=training, mask=mask)
        return _fused_call(self, inputs, data_format, bool(training and self.trainable))


def _fused_call(layer: BatchNormalization, inputs: Any, data_format: str, training: bool) -> Any:
    """`layer` applied to `inputs` with TensorFlow's FusedBatchNormV3 (TensorFlow backend only).

    TensorFlow is imported here, not at the top, so that the module loads on every backend.
    """
    import tensorflow as tf

    channels = inputs.shape[layer.axis]
    scale = layer.gamma if layer.scale else tf.ones([channels], tf.float32)
    offset = layer.beta if layer.center else tf.zeros([channels], tf.float32)
    scale, offset = tf.cast(scale, tf.float32), tf.cast(offset, tf.float32)
    if not training:
        outputs, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=scale,
            offset=offset,
            mean=tf.cast(layer.moving_mean, tf.float32),
            variance=tf.cast(layer.moving_variance, tf.float32),
            epsilon=layer.epsilon,
            data_format=data_format,
            is_training=False,
        )
        return outputs
    empty = tf.zeros([0], tf.float32)
    outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=inputs,
        scale=scale,
        offset=offset,
        mean=empty,
        variance=empty,
        epsilon=layer.epsilon,
        data_format=data_format,
        is_training=True,
    )
    # The kernel returns the unbiased variance (n / (n - 1)); Keras averages the biased one.
    count = tf.cast(tf.size(inputs) // channels, tf.float32)
    variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
    return outputs
