"""Local response normalization, the cross-channel normalization of the AlexNet paper."""

from __future__ import annotations

from typing import Any

import keras

from deepnets.checks import ArgumentError, check_positive_float, check_positive_int
from deepnets.layers.common import channel_axis, normalize_data_format


@keras.utils.register_keras_serializable(package="deepnets")
class LocalResponseNormalization(keras.layers.Layer):
    """b = a / (bias + alpha/size * sum of a^2 over `size` neighbouring channels) ** beta.

    Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks"
    (NIPS 2012), section 3.3, with the paper's constants as defaults (size 5, k=2, alpha=1e-4,
    beta=0.75). Like Caffe and PyTorch, alpha is divided by `size`.

    Args:
        size: number of channels summed over (odd).
        bias: k in the paper.
        alpha: scale of the sum of squares.
        beta: exponent.
        data_format: layout of the input.
    """

    def __init__(
        self,
        size: int = 5,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size = check_positive_int("size", size)
        if size % 2 == 0:
            raise ArgumentError("size", size, "an odd positive integer (a centred window)")
        self.bias = check_positive_float("bias", bias)
        self.alpha = check_positive_float("alpha", alpha)
        self.beta = check_positive_float("beta", beta)
        self.data_format = normalize_data_format(data_format)

    def call(self, inputs: Any) -> Any:
        if keras.backend.backend() == "tensorflow":
            return self._tensorflow_kernel(inputs)
        return self._normalize(inputs)

    def _normalize(self, inputs: Any) -> Any:
        """The normalization in `keras.ops`, for every backend."""
        axis = channel_axis(self.data_format) % 4
        channels, radius = inputs.shape[axis], self.size // 2
        paddings = [[0, 0]] * 4
        paddings[axis] = [radius, radius]
        squares = keras.ops.pad(keras.ops.square(inputs), paddings)
        window = [slice(None)] * 4
        total = None
        for start in range(self.size):
            window[axis] = slice(start, start + channels)
            term = squares[tuple(window)]
            total = term if total is None else total + term
        scale = keras.ops.power(self.bias + (self.alpha / self.size) * total, self.beta)
        return inputs / scale

    def _tensorflow_kernel(self, inputs: Any) -> Any:
        """TensorFlow's LRN kernel (one op forward, one backward), on the TensorFlow backend."""
        import tensorflow as tf

        x = inputs
        if self.data_format == "channels_first":
            x = tf.transpose(x, (0, 2, 3, 1))
        x = tf.nn.local_response_normalization(
            x,
            depth_radius=self.size // 2,
            bias=self.bias,
            alpha=self.alpha / self.size,
            beta=self.beta,
        )
        if self.data_format == "channels_first":
            x = tf.transpose(x, (0, 3, 1, 2))
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "bias": self.bias,
                "alpha": self.alpha,
                "beta": self.beta,
                "data_format": self.data_format,
            }
        )
        return config
