"""A first layer computed from the data: a fixed convolution that whitens the image's patches.

The first layer of Keller Jordan's airbench (2024): a k x k convolution (k = 2) whose filters
are the eigenvectors of the covariance of the training images' k x k patches, each scaled by one
over the square root of its eigenvalue (plus `epsilon`), so its outputs are decorrelated with
unit variance over the training images; the negated filters follow (2 * k * k * channels
outputs), so a ReLU or GELU after it keeps both signs of every component. The filters are not
trained; the bias is. Here the patches are centered (the covariance, not the second moment) and
the bias starts at the value that makes each output's mean zero.

`adapt(images)` computes the filters, as Keras' preprocessing layers learn their statistics;
`deepnets.train` calls it on the first images of the training split when a run starts fresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from deepnets.checks import ArgumentError, check_choice, check_positive_int
from deepnets.layers.common import activate, channel_axis, normalize_data_format

ACTIVATIONS = (None, "relu", "gelu")


@keras.utils.register_keras_serializable(package="deepnets")
class PatchWhitening(keras.layers.Layer):
    """A fixed k x k "valid" convolution that whitens image patches, then an optional activation.

    Args:
        kernel_size: patch size k (airbench's is 2); the output is k - 1 pixels smaller.
        epsilon: added to each eigenvalue before the square root: components with less variance
            than this are damped instead of amplified (the images' scale: 5e-4 for inputs
            normalized to unit variance).
        activation: None, "relu" or "gelu" (airbench's), applied after the bias.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
        **kwargs: Layer arguments (name, dtype).

    Input: a rank-4 image batch with a known channel count C. Output: 2 * k * k * C channels.
    """

    def __init__(
        self,
        kernel_size: int = 2,
        epsilon: float = 5e-4,
        activation: str | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ArgumentError("epsilon", epsilon, "a positive number, e.g. 5e-4")
        self.epsilon = float(epsilon)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.data_format = normalize_data_format(data_format)
        self.channel_axis = channel_axis(self.data_format)
        self.kernel = self.bias = None

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[self.channel_axis] is None:
            raise ValueError(
                f"{self.name} takes a rank-4 image batch with a known channel count, got input "
                f"shape {shape}."
            )
        channels = int(shape[self.channel_axis])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, channels, 2 * k * k * channels),
            initializer="glorot_uniform",
            trainable=False,
        )
        self.bias = self.add_weight(
            name="bias", shape=(2 * k * k * channels,), initializer="zeros", trainable=True
        )

    def call(self, inputs: Any) -> Any:
        x = keras.ops.conv(
            inputs, self.kernel, strides=1, padding="valid", data_format=self.data_format
        )
        bias_shape = (1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)
        x = x + keras.ops.reshape(self.bias, bias_shape)
        return activate(x, self.activation)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = list(input_shape)
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = shape[axis] - self.kernel_size + 1
        shape[self.channel_axis] = 2 * self.kernel_size**2 * shape[self.channel_axis]
        return tuple(shape)

    def adapt(self, images: Any, max_images: int = 5000) -> int:
        """Sets the filters and bias from images, as the network will see them (preprocessed).

        Args:
            images: an array or tensor of images (N, H, W, C) (N, C, H, W with channels_first),
                or an iterable of such batches or of (images, labels) pairs, e.g. a tf.data
                dataset.
            max_images: use at most this many images (the first ones).

        Returns:
            The number of images used.

        Raises:
            ValueError: no images, images smaller than the kernel, or the wrong channel count.
        """
        max_images = check_positive_int("max_images", max_images)
        sums, count, used = None, 0, 0
        for batch in _batches(images):
            batch = np.asarray(batch, dtype=np.float64)[: max_images - used]
            if batch.ndim != 4:
                raise ValueError(f"{self.name}.adapt takes rank-4 image batches, got {batch.shape}")
            if self.data_format == "channels_first":
                batch = batch.transpose(0, 2, 3, 1)
            flat = self._patches(batch)
            if sums is None:
                sums = [np.zeros(flat.shape[1]), np.zeros((flat.shape[1],) * 2)]
            sums[0] += flat.sum(axis=0)
            sums[1] += flat.T @ flat
            count += len(flat)
            used += len(batch)
            if used >= max_images:
                break
        if not used:
            raise ValueError(f"{self.name}.adapt was given no images.")
        mean = sums[0] / count
        covariance = sums[1] / count - np.outer(mean, mean)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        scaled = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0.0) + self.epsilon)
        channels = scaled.shape[0] // self.kernel_size**2
        kernel = scaled.reshape(self.kernel_size, self.kernel_size, channels, -1)
        bias = -(mean @ scaled)
        if not self.built:
            last = self.data_format == "channels_last"
            self.build((None, None, None, channels) if last else (None, channels, None, None))
        if tuple(self.kernel.shape[:3]) != kernel.shape[:3]:
            raise ValueError(
                f"{self.name} was built for {self.kernel.shape[2]} input channels; the images "
                f"given to adapt have {channels}."
            )
        self.kernel.assign(np.concatenate([kernel, -kernel], axis=-1).astype(self.kernel.dtype))
        self.bias.assign(np.concatenate([bias, -bias]).astype(self.bias.dtype))
        return used

    def _patches(self, batch: np.ndarray) -> np.ndarray:
        """The k x k patches of a channels-last batch as rows (row, column, channel order)."""
        k = self.kernel_size
        if batch.shape[1] < k or batch.shape[2] < k:
            raise ValueError(
                f"{self.name}.adapt needs images of at least {k}x{k} pixels, got {batch.shape}"
            )
        # (n, rows, columns, channels, k, k) -> rows of (k, k, channels) values
        patches = np.lib.stride_tricks.sliding_window_view(batch, (k, k), axis=(1, 2))
        return patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * batch.shape[3])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "epsilon": self.epsilon,
                "activation": self.activation,
                "data_format": self.data_format,
            }
        )
        return config


def _batches(images: Any) -> Iterable[Any]:
    """Image batches from an array, a tensor, or an iterable of batches or (images, labels)."""
    if getattr(images, "ndim", None) is not None:  # a NumPy array or any backend's tensor
        yield images
        return
    for item in images:
        yield item[0] if isinstance(item, (tuple, list)) else item


def data_initialized_layers(model: keras.Layer) -> list[PatchWhitening]:
    """The layers of `model` (those of nested models included) whose weights `adapt` sets."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, PatchWhitening):
            found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found
