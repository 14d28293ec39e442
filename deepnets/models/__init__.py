"""deepnets models: `keras.Model` subclasses and a registry of named variants.

The models run on every Keras backend. `ImagePredictor` (a model with its preprocessing) uses
TensorFlow's image ops, and Grad-CAM (`grad_cam`, `GradCam`, `stage_names`) TensorFlow's
gradient tape; on the TensorFlow backend they are imported (and registered with Keras) with
this package, on the others only when first used, so that `import deepnets` does not start
TensorFlow there.
"""

import keras

from deepnets.models.alexnet import AlexNet
from deepnets.models.base import ImageClassifier
from deepnets.models.cifar_resnet import CifarResNet
from deepnets.models.fast_vgg import FastVGG
from deepnets.models.imagenet_weights import WeightsDownloadError, imagenet_weights_file
from deepnets.models.keras_weights import load_imagenet_weights, load_keras_applications_weights
from deepnets.models.registry import (
    ModelSpec,
    build_model,
    get_model_spec,
    list_models,
    model_builder,
    register_model,
)
from deepnets.models.resnet import ResNet
from deepnets.models.resnet_layout import cifar_resnet_arguments
from deepnets.models.vgg import VGG

if keras.backend.backend() == "tensorflow":
    from deepnets.models.grad_cam import GradCam, grad_cam, stage_names
    from deepnets.models.predictor import ImagePredictor

alexnet = model_builder("alexnet")
alexnet_cifar = model_builder("alexnet_cifar")
vgg11 = model_builder("vgg11")
vgg13 = model_builder("vgg13")
vgg16 = model_builder("vgg16")
vgg19 = model_builder("vgg19")
vgg11_bn = model_builder("vgg11_bn")
vgg13_bn = model_builder("vgg13_bn")
vgg16_bn = model_builder("vgg16_bn")
vgg19_bn = model_builder("vgg19_bn")
resnet18 = model_builder("resnet18")
resnet34 = model_builder("resnet34")
resnet50 = model_builder("resnet50")
resnet101 = model_builder("resnet101")
resnet152 = model_builder("resnet152")
resnet20 = model_builder("resnet20")
resnet32 = model_builder("resnet32")
resnet44 = model_builder("resnet44")
resnet56 = model_builder("resnet56")
resnet110 = model_builder("resnet110")
plain18 = model_builder("plain18")
plain34 = model_builder("plain34")
plain20 = model_builder("plain20")
plain32 = model_builder("plain32")
plain44 = model_builder("plain44")
plain56 = model_builder("plain56")
plain110 = model_builder("plain110")


_TENSORFLOW_ONLY = {
    "ImagePredictor": "deepnets.models.predictor",
    "GradCam": "deepnets.models.grad_cam",
    "grad_cam": "deepnets.models.grad_cam",
    "stage_names": "deepnets.models.grad_cam",
}


def __getattr__(name: str) -> object:
    if name in _TENSORFLOW_ONLY:
        import importlib

        return getattr(importlib.import_module(_TENSORFLOW_ONLY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AlexNet",
    "CifarResNet",
    "FastVGG",
    "GradCam",
    "ImageClassifier",
    "ImagePredictor",
    "ModelSpec",
    "ResNet",
    "VGG",
    "WeightsDownloadError",
    "alexnet",
    "alexnet_cifar",
    "build_model",
    "cifar_resnet_arguments",
    "get_model_spec",
    "grad_cam",
    "imagenet_weights_file",
    "list_models",
    "load_imagenet_weights",
    "load_keras_applications_weights",
    "model_builder",
    "plain110",
    "plain18",
    "plain20",
    "plain32",
    "plain34",
    "plain44",
    "plain56",
    "register_model",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet44",
    "resnet50",
    "resnet56",
    "stage_names",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]
