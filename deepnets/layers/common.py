"""The conv/BN plumbing shared by every deepnets block, and the helpers that wire it.

Every block of this package is made of the same few pieces: a convolution whose bias, initializer,
regularizer and data format the user controls, a BatchNormalization whose momentum and epsilon the
user controls, and ReLU. `ConvBNLayer` holds those options once, so each block only says how its
pieces are wired. Argument checks come from `deepnets.checks`, shared with the models and the
training config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras

from deepnets.checks import check_bool, check_choice, check_in_range, check_positive_float
from deepnets.layers.batch_norm import BatchNormalization
from deepnets.layers.initializers import get_kernel_initializer

DATA_FORMATS = ("channels_last", "channels_first")


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
            else "(batch, height, width, channels)"
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


def chain_shapes(
    layers: Iterable[keras.layers.Layer | None], input_shape: Any, *, build: bool = False
) -> tuple:
    """The output shape of `layers` applied one after the other to inputs of `input_shape`.

    Each layer's own `compute_output_shape` gives the next layer's input shape, so a block never
    does convolution arithmetic by hand. With `build=True` each layer is also built on the shape
    it will see: Keras 3's `build()` does not run `call()`, so a block must build its children
    itself for `model.build(shape)`, `count_params()` and weight loading to work before a call.

    Args:
        layers: the layers in call order; None entries (absent optional layers) are skipped.
        input_shape: shape of the first layer's input, batch dimension included.
        build: build each layer on its input shape.

    Returns:
        The last layer's output shape.
    """
    shape = tuple(input_shape)
    for layer in layers:
        if layer is None:
            continue
        if build:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def fresh_initializer(
    initializer: keras.initializers.Initializer,
) -> keras.initializers.Initializer:
    """A new initializer with the same config, so that no two variables share a seeded instance."""
    return initializer.__class__.from_config(initializer.get_config())


def serialize_regularizer(regularizer: keras.regularizers.Regularizer | None) -> Any:
    """Keras' config dict of a regularizer; None (no regularizer) stays None."""
    return None if regularizer is None else keras.regularizers.serialize(regularizer)


def track_layers(owner: keras.layers.Layer, layers: list) -> list:
    """Return `layers` as a list, and also set each as an attribute of `owner` under its name.

    Keras keeps sublayers held in a list, but `tf.train.Checkpoint` does not follow Keras' list
    wrappers: without the attributes a checkpoint of the model would silently miss those layers.
    The attributes also give readable checkpoint keys (model/.../block1/conv1/kernel).
    """
    layers = list(layers)
    for layer in layers:
        current = getattr(owner, layer.name, None)
        if current is not None and current is not layer:
            raise RuntimeError(f"{type(owner).__name__} already has an attribute {layer.name!r}.")
        setattr(owner, layer.name, layer)
    return layers


def activate(x: Any, activation: str | None) -> Any:
    """`x` through the activation named "relu" or "gelu", or unchanged for None.

    GELU is the exact (erf) one, as PyTorch's and airbench's; Keras' default is the tanh
    approximation.
    """
    if activation == "gelu":
        return keras.ops.gelu(x, approximate=False)
    return keras.ops.relu(x) if activation == "relu" else x


def mixed_output_dtype(policy: keras.DTypePolicy) -> Any:
    """The dtype for a model's last layer: float32 under a mixed policy, else the policy itself.

    Logits and softmax in float16 lose precision and overflow, so the classifier runs in float32.
    """
    if policy.compute_dtype != policy.variable_dtype:
        return "float32"
    return policy


# How each option of `ConvBNLayer` is checked and resolved, by argument name.
_CONV_BN_CHECKS: dict[str, Callable[[Any], Any]] = {
    "use_bias": lambda value: check_bool("use_bias", value),
    "bn_momentum": lambda value: check_in_range(
        "bn_momentum", value, 0.0, 1.0, high_inclusive=False
    ),
    "bn_epsilon": lambda value: check_positive_float("bn_epsilon", value),
    "kernel_initializer": get_kernel_initializer,
    "kernel_regularizer": keras.regularizers.get,
    "data_format": normalize_data_format,
}
CONV_BN_OPTIONS = tuple(_CONV_BN_CHECKS)


def conv_bn_options(**options: Any) -> dict[str, Any]:
    """Options of `ConvBNLayer`, checked and resolved (initializer and regularizer objects).

    Models check theirs with this too, so a model and its blocks hold the same values.

    Args:
        **options: any of `CONV_BN_OPTIONS` (use_bias, bn_momentum, bn_epsilon,
            kernel_initializer, kernel_regularizer, data_format).

    Returns:
        The options by argument name, ready to pass to any `ConvBNLayer`.

    Raises:
        TypeError: a name that is not one of `CONV_BN_OPTIONS`.
    """
    unknown = sorted(set(options) - set(_CONV_BN_CHECKS))
    if unknown:
        raise TypeError(f"{unknown} are not ConvBNLayer options; those are {CONV_BN_OPTIONS}.")
    return {name: _CONV_BN_CHECKS[name](value) for name, value in options.items()}


class ConvBNLayer(keras.layers.Layer):
    """Base class for blocks built from Conv -> BatchNorm -> ReLU pieces.

    It stores the options every such block shares and makes sublayers that honour them.
    Subclasses create their sublayers in `__init__`, build them in `build()` (with
    `chain_shapes`) and add their own arguments to `get_config()` on top of `_conv_bn_config()`.

    Args:
        use_bias: whether convolutions have a bias (keras.applications' VGG and ResNet do).
        bn_momentum: BatchNormalization momentum of the moving statistics. 0.9 (TF official
            models, PyTorch's 0.1) rather than Keras' 0.99: the statistics then track the weights
            within ~20 steps, so evaluation is right in short runs too. It does not change
            inference with given weights, so keras.applications parity holds.
        bn_epsilon: BatchNormalization epsilon.
        kernel_initializer: initializer (name, config dict or instance) of conv kernels;
            "dirac" is airbench's partial identity (`PartialDirac`).
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
        options = conv_bn_options(
            use_bias=use_bias,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            data_format=data_format,
        )
        self.use_bias = options["use_bias"]
        self.bn_momentum = options["bn_momentum"]
        self.bn_epsilon = options["bn_epsilon"]
        self.kernel_initializer = options["kernel_initializer"]
        self.kernel_regularizer = options["kernel_regularizer"]
        self.data_format = options["data_format"]
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
        return BatchNormalization(
            axis=self.channel_axis,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            gamma_initializer="zeros" if zero_gamma else "ones",
            dtype=self.dtype_policy,
            name=name,
        )

    def _pad(self, padding: int, name: str) -> keras.layers.ZeroPadding2D:
        return keras.layers.ZeroPadding2D(
            padding, data_format=self.data_format, dtype=self.dtype_policy, name=name
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
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "data_format": self.data_format,
        }
