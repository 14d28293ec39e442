"""Argument checks and the conv/BN plumbing shared by every deepnets block.

Every block of this package is made of the same few pieces: a convolution whose bias, initializer,
regularizer and data format the user controls, a BatchNormalization whose momentum and epsilon the
user controls, and ReLU. `ConvBNLayer` holds those options once, so each block only says how its
pieces are wired.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tensorflow as tf

keras = tf.keras

DATA_FORMATS = ("channels_last", "channels_first")


def check_positive_int(name: str, value: Any) -> int:
    """Return `value` if it is a positive int, else raise a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def check_rate(name: str, value: Any) -> float:
    """Return `value` as a float if it lies in [0, 1), else raise a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1), got {value!r}.")
    return float(value)


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return `value` if it is one of `allowed`, else raise a ValueError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"`{name}` must be one of {shown}; got {value!r}.")
    return value


def check_filters_tuple(name: str, value: Any, length: int) -> tuple[int, ...]:
    """Return `value` as a tuple of `length` positive ints, else raise a ValueError."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(
            f"`{name}` must be a sequence of {length} positive integers, got {value!r}."
        )
    values = tuple(value)
    if len(values) != length or any(
        isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values
    ):
        raise ValueError(
            f"`{name}` must be a sequence of {length} positive integers, got {value!r}."
        )
    return values


def normalize_data_format(data_format: str | None) -> str:
    """Resolve None to Keras' global image data format and check the value."""
    if data_format is None:
        data_format = keras.config.image_data_format()
    return check_choice("data_format", data_format, DATA_FORMATS)


def channel_axis(data_format: str) -> int:
    """Axis of the channels in a rank-4 image tensor."""
    return 1 if data_format == "channels_first" else -1


def check_image_shape(owner: str, input_shape: Any, data_format: str) -> tuple:
    """Check that `input_shape` is a rank-4 image shape with a known channel count.

    Returns the shape as a tuple. Raises a ValueError naming `owner` otherwise.
    """
    shape = tuple(input_shape)
    if len(shape) != 4:
        layout = (
            "(batch, channels, height, width)"
            if data_format == "channels_first"
            else ("(batch, height, width, channels)")
        )
        raise ValueError(
            f"{owner} expects rank-4 image input {layout} with data_format={data_format!r}, "
            f"got input_shape={shape} (rank {len(shape)})."
        )
    if shape[channel_axis(data_format)] is None:
        raise ValueError(
            f"{owner} needs a known channel count, got input_shape={shape} "
            f"with data_format={data_format!r}."
        )
    return shape


def conv_output_length(length: int | None, kernel: int, stride: int, padding: str) -> int | None:
    """Spatial output length of a convolution or pooling with 'same' or 'valid' padding."""
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


def with_channels(shape: tuple, data_format: str, channels: int) -> tuple:
    """Return `shape` with its channel dimension replaced."""
    shape = list(shape)
    shape[channel_axis(data_format)] = channels
    return tuple(shape)


def spatial_dims(shape: tuple, data_format: str) -> tuple:
    """(height, width) of a rank-4 shape."""
    return tuple(shape[2:4]) if data_format == "channels_first" else tuple(shape[1:3])


def with_spatial(shape: tuple, data_format: str, height: Any, width: Any) -> tuple:
    """Return `shape` with its spatial dimensions replaced."""
    shape = list(shape)
    if data_format == "channels_first":
        shape[2], shape[3] = height, width
    else:
        shape[1], shape[2] = height, width
    return tuple(shape)


def fresh_initializer(
    initializer: keras.initializers.Initializer,
) -> keras.initializers.Initializer:
    """A new initializer with the same config, so that no two variables share a seeded instance."""
    return initializer.__class__.from_config(initializer.get_config())


def track_layers(owner: keras.layers.Layer, layers: list) -> list:
    """Return `layers` as a list, and also set each as an attribute of `owner` under its name.

    Keras keeps sublayers held in a list, but `tf.train.Checkpoint` does not follow Keras' list
    wrappers: without the attributes a checkpoint of the model would silently miss those layers.
    The attributes also give readable checkpoint keys (model/conv2_block1/conv1/kernel).
    """
    layers = list(layers)
    for layer in layers:
        current = getattr(owner, layer.name, None)
        if current is not None and current is not layer:
            raise RuntimeError(f"{type(owner).__name__} already has an attribute {layer.name!r}.")
        setattr(owner, layer.name, layer)
    return layers


def mixed_output_dtype(policy: keras.DTypePolicy) -> Any:
    """The dtype for a model's last layer: float32 under a mixed policy, else the policy itself.

    Logits and softmax in float16 lose precision and overflow, so the classifier runs in float32.
    """
    if policy.compute_dtype != policy.variable_dtype:
        return "float32"
    return policy


class ConvBNLayer(keras.layers.Layer):
    """Base class for blocks built from Conv -> BatchNorm -> ReLU pieces.

    It stores the options every such block shares and makes sublayers that honour them.
    Subclasses create their sublayers in `__init__`, build them in `build()` and add their own
    arguments to `get_config()` on top of `_conv_bn_config()`.

    Args:
        use_bias: whether convolutions have a bias (keras.applications' VGG and ResNet do).
        bn_momentum: BatchNormalization momentum of the moving statistics. 0.9 (TF official
            models, PyTorch's 0.1) rather than Keras' 0.99: the statistics then track the weights
            within ~20 steps, so evaluation is right in short runs too. It does not change
            inference with given weights, so keras.applications parity holds.
        bn_epsilon: BatchNormalization epsilon.
        kernel_initializer: initializer (name, config dict or instance) of conv kernels.
        kernel_regularizer: regularizer (name, config dict, instance or None) of conv kernels.
        data_format: "channels_last", "channels_first" or None for Keras' global setting.
    """

    def __init__(
        self,
        *,
        use_bias: bool = True,
        bn_momentum: float = 0.9,
        bn_epsilon: float = 1e-3,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.use_bias = bool(use_bias)
        if not 0.0 <= bn_momentum < 1.0:
            raise ValueError(f"`bn_momentum` must be in [0, 1), got {bn_momentum!r}.")
        if bn_epsilon <= 0:
            raise ValueError(f"`bn_epsilon` must be positive, got {bn_epsilon!r}.")
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.data_format = normalize_data_format(data_format)
        self.channel_axis = channel_axis(self.data_format)

    def _conv(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: str = "same",
        name: str | None = None,
    ) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=self.use_bias,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            data_format=self.data_format,
            dtype=self.dtype_policy,
            name=name,
        )

    def _bn(self, name: str | None = None, zero_gamma: bool = False) -> keras.layers.Layer:
        return keras.layers.BatchNormalization(
            axis=self.channel_axis,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            gamma_initializer="zeros" if zero_gamma else "ones",
            dtype=self.dtype_policy,
            name=name,
        )

    def _check_input(self, input_shape: Any) -> tuple:
        return check_image_shape(self.__class__.__name__, input_shape, self.data_format)

    def _lock_input_channels(self, channels: int) -> None:
        """After build, make Keras reject inputs with another channel count with a clear error."""
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self.channel_axis: channels})

    def _conv_bn_config(self) -> dict[str, Any]:
        return {
            "use_bias": self.use_bias,
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer is not None
            else None,
            "data_format": self.data_format,
        }
