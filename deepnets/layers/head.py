"""The classifier head shared by the models: pool or flatten -> hidden Dense layers -> classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from deepnets.checks import (
    ArgumentError,
    check_choice,
    check_int_tuple,
    check_positive_float,
    check_positive_int,
    check_rate,
)
from deepnets.layers.common import (
    chain_shapes,
    check_image_shape,
    mixed_output_dtype,
    normalize_data_format,
    serialize_regularizer,
    track_layers,
)

HEAD_POOLINGS = ("avg", "max", "flatten")


def check_activation(value: Any) -> Any:
    """Return `value` if Keras knows it as an activation (None means logits)."""
    if value is None:
        return None
    try:
        keras.activations.get(value)
    except (ValueError, TypeError) as err:
        raise ArgumentError(
            "classifier_activation",
            value,
            "None (logits), 'softmax' or another Keras activation name",
        ) from err
    return value


@keras.utils.register_keras_serializable(package="deepnets")
class ClassifierHead(keras.layers.Layer):
    """Pool or flatten a feature map, then Dense (+ReLU, +Dropout) layers, then the classes.

    Args:
        num_classes: number of output classes.
        pooling: "avg" or "max" (global pooling) or "flatten" (keep every position, as VGG).
        hidden_units: widths of the hidden Dense+ReLU layers, e.g. (4096, 4096) for VGG.
        dropout: dropout rate before each Dense layer that follows a hidden layer or pooling.
        classifier_activation: "softmax", None for logits, or another Keras activation name.
        kernel_regularizer: regularizer of the Dense kernels.
        data_format: layout of the incoming feature map.
        logit_scale: the logits are multiplied by it before the activation (airbench's network
            scales them by 1/9); 1.0: not scaled.
    """

    def __init__(
        self,
        num_classes: int,
        pooling: str = "avg",
        hidden_units: Sequence[int] = (),
        dropout: float = 0.0,
        classifier_activation: Any = "softmax",
        kernel_regularizer: Any = None,
        data_format: str | None = None,
        logit_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.logit_scale = check_positive_float("logit_scale", logit_scale)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.pooling = check_choice("pooling", pooling, HEAD_POOLINGS)
        self.hidden_units = check_int_tuple("hidden_units", hidden_units)
        self.dropout = check_rate("dropout", dropout)
        self.classifier_activation = check_activation(classifier_activation)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.data_format = normalize_data_format(data_format)
        fmt, policy = self.data_format, self.dtype_policy
        if self.pooling == "avg":
            self.pool = keras.layers.GlobalAveragePooling2D(fmt, dtype=policy, name="pool")
        elif self.pooling == "max":
            self.pool = keras.layers.GlobalMaxPooling2D(fmt, dtype=policy, name="pool")
        else:
            # Flatten in channels_last order whatever the layout, as keras.applications does,
            # so Dense weights transfer between data formats.
            self.pool = keras.layers.Flatten(data_format=fmt, dtype=policy, name="flatten")
        self.hidden = track_layers(
            self,
            [
                keras.layers.Dense(
                    units,
                    activation="relu",
                    kernel_regularizer=self.kernel_regularizer,
                    dtype=policy,
                    name=f"fc{i + 1}",
                )
                for i, units in enumerate(self.hidden_units)
            ],
        )
        self.dropouts = track_layers(
            self,
            [
                keras.layers.Dropout(self.dropout, dtype=policy, name=f"dropout{i + 1}")
                for i in range(max(1, len(self.hidden_units)))
            ]
            if self.dropout > 0
            else [],
        )
        # With a scale the activation follows it; without, it stays in the Dense layer (as
        # keras.applications has it, and as models saved before the scale existed load).
        scaled = self.logit_scale != 1.0
        self.output_activation = (
            keras.activations.get(self.classifier_activation) if scaled else None
        )
        self.predictions = keras.layers.Dense(
            self.num_classes,
            activation=None if scaled else self.classifier_activation,
            kernel_regularizer=self.kernel_regularizer,
            dtype=mixed_output_dtype(policy),
            name="predictions",
        )

    def build(self, input_shape: Any) -> None:
        shape = check_image_shape("ClassifierHead", input_shape, self.data_format)
        self.pool.build(shape)
        features = self.pool.compute_output_shape(shape)[-1]
        if features is None:
            raise ValueError(
                "ClassifierHead(pooling='flatten') needs a fixed input height and width; got "
                f"input_shape={shape}. Give the model a fixed input size or use pooling='avg'."
            )
        chain_shapes([*self.hidden, self.predictions], (shape[0], features), build=True)

    def _features(self, inputs: Any, training: bool | None) -> Any:
        x = self.pool(inputs)
        # Dropout follows every hidden layer (the VGG paper); with none, it precedes the classifier.
        for i, dense in enumerate(self.hidden):
            x = dense(x)
            if self.dropouts:
                x = self.dropouts[i](x, training=training)
        if self.dropouts and not self.hidden:
            x = self.dropouts[0](x, training=training)
        return x

    def logits(self, inputs: Any, training: bool | None = None) -> Any:
        """The class scores before `classifier_activation`: what Grad-CAM differentiates, since
        a saturated softmax has next to no gradient.

        Args:
            inputs: the feature map the head takes.
            training: dropout mode.

        Returns:
            [n, num_classes] logits, times `logit_scale`.
        """
        if not self.built:  # a method of its own, not `__call__`, which would build it
            self.build(inputs.shape)
        x = self._features(inputs, training)
        dense = self.predictions
        if self.logit_scale == 1.0 and self.classifier_activation is not None:
            # The activation is inside the Dense layer: apply its weights without it.
            x = keras.ops.matmul(keras.ops.cast(x, dense.compute_dtype), dense.kernel) + dense.bias
        else:
            x = dense(x)
        return x * keras.ops.cast(self.logit_scale, x.dtype) if self.logit_scale != 1.0 else x

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.predictions(self._features(inputs, training))
        if self.logit_scale != 1.0:
            x = x * keras.ops.cast(self.logit_scale, x.dtype)
            if self.output_activation is not None:
                x = self.output_activation(x)
        return x

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return chain_shapes([self.pool, *self.hidden, self.predictions], input_shape)

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        # Keras' default spec has the layer's compute dtype; under a mixed policy the outputs
        # are the float32 of the last Dense layer.
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.predictions.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "hidden_units": list(self.hidden_units),
                "dropout": self.dropout,
                "classifier_activation": self.classifier_activation,
                "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
                "data_format": self.data_format,
                "logit_scale": self.logit_scale,
            }
        )
        return config
