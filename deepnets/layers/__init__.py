"""Reusable, serializable building blocks of the deepnets models.

Every class here is a `keras.layers.Layer` registered under the package name "deepnets", so
a model that uses them saves to `.keras` and loads back after `import deepnets`.
"""

from deepnets.layers.batch_norm import BatchNormalization
from deepnets.layers.bottleneck import BottleneckBlock, IdentityBlock
from deepnets.layers.common import ConvBNLayer
from deepnets.layers.head import ClassifierHead
from deepnets.layers.initializers import PartialDirac
from deepnets.layers.lrn import LocalResponseNormalization
from deepnets.layers.residual import BasicBlock, ResidualBlock
from deepnets.layers.stems import ResNetStem
from deepnets.layers.vgg import VGGBlock
from deepnets.layers.whitening import PatchWhitening

__all__ = [
    "BasicBlock",
    "BatchNormalization",
    "BottleneckBlock",
    "ClassifierHead",
    "ConvBNLayer",
    "IdentityBlock",
    "LocalResponseNormalization",
    "PartialDirac",
    "PatchWhitening",
    "ResNetStem",
    "ResidualBlock",
    "VGGBlock",
]
