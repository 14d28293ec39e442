"""Every public layer of deepnets.layers passes Keras' own layer checks.

Keras' `run_layer_test` (keras/src/testing/test_case.py) on a small case of each: config and
serialization round trip, build and symbolic call with the pinned weight counts, an eager call,
one training step with `fit`, and under "mixed_float16" outputs in the dtypes the layer declares
with float32 weights; then the output dtype under "mixed_float16" itself: float16, or float32 for
the classifier (its last Dense runs in float32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import pytest
from absl.testing import parameterized
from keras.src.testing import TestCase

from deepnets import layers

# `run_layer_test` trains with `fit` on a generator and asks for shuffling.
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")


@dataclass(frozen=True)
class LayerCase:
    """A layer, its arguments, an input shape, and what Keras' checks must find."""

    name: str
    layer_class: type
    input_shape: tuple
    output_shape: tuple
    trainable: int
    non_trainable: int
    arguments: dict[str, Any] = field(default_factory=dict)
    mixed_output_dtype: str = "float16"


LAYER_CASES = (
    LayerCase("batch_norm", layers.BatchNormalization, (2, 4, 4, 3), (2, 4, 4, 3), 2, 2),
    # gamma, beta of two BNs; kernel and bias of two convs
    LayerCase(
        "vgg_block",
        layers.VGGBlock,
        (2, 8, 8, 3),
        (2, 4, 4, 4),
        8,
        4,
        {"filters": 4, "batch_norm": True, "activation": "gelu", "kernel_initializer": "dirac"},
    ),
    LayerCase(
        "resnet_stem",
        layers.ResNetStem,
        (2, 8, 8, 3),
        (2, 8, 8, 4),
        4,
        2,
        {"filters": 4, "stem": "cifar"},
    ),
    LayerCase(
        "basic_block_a",
        layers.BasicBlock,
        (2, 8, 8, 2),
        (2, 4, 4, 4),
        8,
        4,
        {"filters": 4, "strides": 2, "shortcut": "A", "stochastic_depth_rate": 0.5},
    ),
    # the projection shortcut's conv and BN on top of the two convs and BNs
    LayerCase(
        "basic_block_b",
        layers.BasicBlock,
        (2, 8, 8, 2),
        (2, 4, 4, 4),
        12,
        6,
        {"filters": 4, "strides": 2, "use_bias": True},
    ),
    LayerCase(
        "bottleneck_block",
        layers.BottleneckBlock,
        (2, 8, 8, 4),
        (2, 4, 4, 8),
        16,
        8,
        {"filters": (2, 2, 8), "strides": 2, "stride_in": "3x3"},
    ),
    LayerCase(
        "identity_block",
        layers.IdentityBlock,
        (2, 8, 8, 4),
        (2, 8, 8, 4),
        12,
        6,
        {"filters": (2, 2, 4), "zero_init_residual": True},
    ),
    LayerCase(
        "classifier_head",
        layers.ClassifierHead,
        (2, 4, 4, 4),
        (2, 3),
        4,
        0,
        {"num_classes": 3, "hidden_units": (8,), "dropout": 0.5, "logit_scale": 0.5},
        # the classifier's last Dense runs in float32 under a mixed policy
        mixed_output_dtype="float32",
    ),
    LayerCase(
        "lrn",
        layers.LocalResponseNormalization,
        (2, 4, 4, 6),
        (2, 4, 4, 6),
        0,
        0,
        {"size": 3},
    ),
    # the whitening kernel is fixed, its bias trained
    LayerCase(
        "patch_whitening",
        layers.PatchWhitening,
        (2, 8, 8, 3),
        (2, 7, 7, 24),
        1,
        1,
        {"activation": "gelu"},
    ),
)


class LayerConventionsTest(TestCase):
    @parameterized.named_parameters((case.name, case) for case in LAYER_CASES)
    def test_keras_layer_checks(self, case):
        self.run_layer_test(
            case.layer_class,
            init_kwargs=case.arguments,
            input_shape=case.input_shape,
            expected_output_shape=case.output_shape,
            expected_output_dtype="float32",
            expected_num_trainable_weights=case.trainable,
            expected_num_non_trainable_weights=case.non_trainable,
            # a layer without trained weights has nothing for `fit` to train
            run_training_check=case.trainable > 0,
        )
        mixed = case.layer_class(**case.arguments, dtype="mixed_float16")
        outputs = mixed(keras.random.normal(case.input_shape))
        dtype = keras.backend.standardize_dtype(outputs.dtype)
        self.assertEqual(dtype, case.mixed_output_dtype)
