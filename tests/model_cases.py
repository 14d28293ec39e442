"""Small versions of every registered model, shared by the model and layer tests."""

import numpy as np
import tensorflow as tf

import deepnets
from deepnets.models import AlexNet, FastVGG, ResNet, get_model_spec
from deepnets.models.resnet_layout import CIFAR_RESNET_DEPTHS


def small_input_shape(name: str) -> tuple:
    """Smallest convenient input for each model (the ImageNet AlexNet needs 64x64)."""
    return (64, 64, 3) if name == "alexnet" else (32, 32, 3)


def small_overrides(name: str) -> dict:
    """Overrides that keep a registered model's architecture but make it tiny.

    The models return logits: a deep random network can saturate a softmax to exact 0/1, which
    would hide differences between two sets of weights. The input shape is given as the training
    code gives it: VGG's "fc" head and AlexNet's flatten a map of a fixed size.
    """
    cls = get_model_spec(name).model_class
    common = {
        "num_classes": 5,
        "classifier_activation": None,
        "input_shape": small_input_shape(name),
    }
    if is_cifar_resnet(name):
        # Small already, so their real width (16): the signal of an untrained plain110 shrinks
        # through its 109 layers to ~1e-7 at width 4, where two models' logits compare equal.
        return common
    if cls is ResNet:
        return {"width": 4, "stem": "cifar", **common}
    if cls is AlexNet:
        return {"fc_units": 16, **common}
    if cls is FastVGG:
        return {"widths": (4, 8, 8), "stem_width": 4, "logit_scale": 0.5, **common}
    return {"width": 4, "fc_units": 16, **common}


def is_cifar_resnet(name: str) -> bool:
    """Whether `name` is one of the paper's CIFAR ResNets or plain nets (resnet20 ... plain110)."""
    spec = get_model_spec(name)
    return spec.model_class is ResNet and spec.fixed.get("stem") == "cifar"


def distinct_models() -> list[str]:
    """The registered models, less those that only repeat another's blocks more times.

    For the slowest per-model checks (SavedModel export, weights file and checkpoint): resnet32
    ... resnet110 repeat resnet20's blocks (and plain32 ... plain110 plain20's), resnet34 and
    plain34 those of resnet18 and plain18, resnet101 and resnet152 resnet50's bottlenecks,
    vgg13 and vgg19 the blocks of vgg11 and vgg16 (with or without BN), vgg_fast_half
    vgg_fast's at another width, and run no other code, while exporting resnet110 or resnet152
    alone takes 15-25 s (TensorFlow's per-variable SavedModel work). Every
    registered model still goes through the other registry-wide tests (config round trip,
    features, parameter counts); the `.keras`, SavedModel and weights checks run one model of
    each kind of layer stack.
    """
    repeats = {"resnet34", "plain34", "resnet101", "resnet152", "vgg13", "vgg13_bn", "vgg19"}
    repeats |= {"vgg19_bn", "vgg16_bn", "vgg_fast_half"}
    return [
        name
        for name in deepnets.list_models()
        if name not in repeats
        and (
            not is_cifar_resnet(name)
            or get_model_spec(name).fixed["depth"] == min(CIFAR_RESNET_DEPTHS)
        )
    ]


def small_model(name: str, **extra) -> tf.keras.Model:
    """A tiny version of the registered model `name` (built, as every deepnets model is)."""
    model = deepnets.build_model(name, **{**small_overrides(name), **extra})
    # What training code does with any Keras model; harmless for a matching shape.
    model.build((None, *small_input_shape(name)))
    return model


def images(shape: tuple, batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")
