"""The skeleton every family shares: a new family says only its arguments, layers and head."""

import numpy as np
import pytest
import tensorflow as tf
from model_cases import images

from deepnets.checks import ArgumentError, check_int_tuple
from deepnets.layers import VGGBlock
from deepnets.models import ImageClassifier
from deepnets.models.base import FeatureStage
from deepnets.models.common import Head, conv_options

keras = tf.keras


@keras.utils.register_keras_serializable(package="tests")
class TinyNet(ImageClassifier):
    """A family in a few lines: one conv + BN + ReLU + max-pool block per width."""

    def __init__(
        self,
        widths=(4, 8),
        num_classes=3,
        include_top=True,
        pooling=None,
        dropout=0.0,
        classifier_activation=None,
        input_shape=None,
        use_bias=False,
        bn_momentum=0.9,
        bn_epsilon=1e-3,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        data_format=None,
        dtype=None,
        **kwargs,
    ):
        super().__init__(locals(), **kwargs)

    @classmethod
    def _check_arguments(cls, arguments):
        return {"widths": check_int_tuple("widths", arguments["widths"])}

    @classmethod
    def _backbone(cls, inputs, arguments, dtype):
        x, stages = inputs, []
        for i, width in enumerate(arguments["widths"]):
            name = f"block{i + 1}"
            options = conv_options(arguments)
            x = VGGBlock(width, num_convs=1, batch_norm=True, dtype=dtype, name=name, **options)(x)
            stages.append(FeatureStage(f"C{i + 1}", name, 2 ** (i + 1)))
        return x, stages

    @classmethod
    def _head(cls, arguments):
        return Head("max", logit_scale=0.5)


class ForgetfulNet(TinyNet):
    """A family whose checks forget an argument."""

    @classmethod
    def _check_arguments(cls, arguments):
        return {}


def test_a_family_gets_the_config_top_features_and_reload_from_the_skeleton(tmp_path):
    model = TinyNet(widths=[4, 8], dropout=0.1, input_shape=(16, 16, 3))
    assert (
        model.widths == (4, 8) and model.num_classes == 3 and model.data_format == "channels_last"
    )
    config = model.get_config()
    assert set(config) == {
        *("widths", "num_classes", "include_top", "pooling", "dropout"),
        *("classifier_activation", "input_shape", "use_bias", "bn_momentum", "bn_epsilon"),
        *("kernel_initializer", "kernel_regularizer", "data_format", "name", "trainable", "dtype"),
    }
    head = model.get_layer("classifier")
    assert (head.pooling, head.logit_scale, head.dropout, head.num_classes) == ("max", 0.5, 0.1, 3)
    assert [(i["name"], i["channels"], i["reduction"]) for i in model.feature_info] == [
        ("C1", 4, 2),
        ("C2", 8, 4),
    ]
    x = images((16, 16, 3))
    model.save(tmp_path / "tiny.keras")
    loaded = keras.models.load_model(tmp_path / "tiny.keras")
    assert type(loaded) is TinyNet and loaded.get_config() == config
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)
    pooled = TinyNet(include_top=False, pooling="avg")
    assert pooled(x).shape == (2, 8)


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"pooling": "mean"}, "pooling"),
        ({"dropout": 1.0}, "dropout"),
        ({"bn_epsilon": 0}, "bn_epsilon"),
        ({"data_format": "NHWC"}, "data_format"),
        ({"input_shape": (16, 16)}, "input_shape"),
        ({"widths": (4, 0)}, "widths"),
    ],
)
def test_the_shared_and_the_family_checks_name_the_argument(arguments, name):
    with pytest.raises(ArgumentError) as info:
        TinyNet(**arguments)
    assert info.value.name == name


def test_a_family_whose_checks_forget_an_argument_fails_at_once():
    with pytest.raises(TypeError, match=r"ForgetfulNet._check_arguments returned .*'widths'"):
        ForgetfulNet()
