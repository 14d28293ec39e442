"""The registered models as data: a name, a model class, the arguments that make the variant.

As timm registers `resnet50` as `ResNet(block=Bottleneck, layers=(3, 4, 6, 3))`, a preset here
is `(model class, fixed arguments, default arguments)`: the fixed ones make the variant what its
name says and cannot be overridden; the defaults can. The registry registers each of `PRESETS`.
"""

from __future__ import annotations

from typing import Any

from deepnets.models.alexnet import AlexNet
from deepnets.models.fast_vgg import FastVGG
from deepnets.models.resnet import ResNet
from deepnets.models.resnet_layout import (
    CIFAR_RESNET_DEFAULTS,
    CIFAR_RESNET_DEPTHS,
    IMAGENET_LAYOUTS,
    cifar_resnet_arguments,
)
from deepnets.models.vgg import VGG, VGG_CONFIGS

Preset = tuple[type, dict[str, Any], dict[str, Any]]


def _resnet_presets() -> dict[str, Preset]:
    """ResNet-18..152 (the ImageNet layouts, any stem) and the CIFAR ResNets 20..110, and the
    plain twins of the basic-block ones (plain50+ only through `ResNet(residual=False)`)."""
    presets: dict[str, Preset] = {}
    for depth, (block_type, stage_blocks) in IMAGENET_LAYOUTS.items():
        layout = {"depth": depth, "block_type": block_type, "stage_blocks": stage_blocks}
        presets[f"resnet{depth}"] = (ResNet, layout, {})
        if block_type == "basic":
            presets[f"plain{depth}"] = (ResNet, {**layout, "residual": False}, {})
    for depth in CIFAR_RESNET_DEPTHS:
        arguments = cifar_resnet_arguments(depth)
        layout = {name: arguments[name] for name in ("depth", "block_type", "stage_blocks", "stem")}
        presets[f"resnet{depth}"] = (ResNet, layout, CIFAR_RESNET_DEFAULTS)
        presets[f"plain{depth}"] = (ResNet, {**layout, "residual": False}, CIFAR_RESNET_DEFAULTS)
    return presets


PRESETS: dict[str, Preset] = {
    "alexnet": (AlexNet, {"stem": "imagenet"}, {}),
    "alexnet_cifar": (AlexNet, {"stem": "cifar"}, {"local_response_norm": False, "fc_units": 1024}),
    **{f"vgg{depth}": (VGG, {"depth": depth, "batch_norm": False}, {}) for depth in VGG_CONFIGS},
    **{f"vgg{depth}_bn": (VGG, {"depth": depth, "batch_norm": True}, {}) for depth in VGG_CONFIGS},
    **_resnet_presets(),
    # A small VGG for 32x32 images, shaped for accuracy per minute (airbench's widths), and a
    # half-width one.
    "vgg_fast": (FastVGG, {}, {}),
    "vgg_fast_half": (FastVGG, {}, {"widths": (32, 128, 128), "stem_width": 16}),
}
