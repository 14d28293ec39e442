"""The layouts of the paper's ResNets, and the checks of a `ResNet`'s stage arguments.

He et al. 2016: the ImageNet ResNets of Table 1 (four stages, `IMAGENET_LAYOUTS`) and the CIFAR
ResNets of section 4.2 (`cifar_resnet_arguments`): a 3x3 conv with 16 filters, BN and ReLU; three
stages of n basic blocks with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps; global average
pooling and a Dense classifier: 6n + 2 weighted layers, no max-pool, no conv bias, BN after every
conv, and the paper's option A shortcuts (identities that subsample and pad with zero channels,
without parameters: Table 6's 0.27M parameters for ResNet-20 ... 1.7M for ResNet-110).
"""

from __future__ import annotations

from typing import Any

from deepnets.checks import ArgumentError, check_choice, check_int_tuple, is_int

BLOCK_TYPES = ("basic", "bottleneck")
# Weighted layers per block: a stack of blocks and the stem and classifier make the depth.
LAYERS_PER_BLOCK = {"basic": 2, "bottleneck": 3}
# The paper's ImageNet ResNets (Table 1): depth -> (block type, blocks per stage).
IMAGENET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# The CIFAR ResNets of the paper's Table 6 (n = 3, 5, 7, 9, 18); any 6n + 2 builds.
CIFAR_RESNET_DEPTHS = (20, 32, 44, 56, 110)
# What a CIFAR ResNet is besides its depth: the arguments that make it one ...
CIFAR_RESNET = {"block_type": "basic", "stem": "cifar"}
# ... and those it has by default, which differ from an ImageNet ResNet's.
CIFAR_RESNET_DEFAULTS = {
    "width": 16,
    "shortcut": "A",
    "use_bias": False,
    "bn_epsilon": 1e-5,
    "num_classes": 10,
}


def layout_depth(block_type: str, stage_blocks: tuple[int, ...]) -> int:
    """The depth of a ResNet: its blocks' convolutions, the stem's and the classifier."""
    return LAYERS_PER_BLOCK[block_type] * sum(stage_blocks) + 2


def resolve_layout(
    depth: Any, block_type: Any, stage_blocks: Any
) -> tuple[int, str, tuple[int, ...]]:
    """A ResNet's (depth, block_type, stage_blocks), from a depth or from its blocks.

    Args:
        depth: None, or the depth; alone, one of `IMAGENET_LAYOUTS` (None alone: 50).
        block_type: None, or "basic" or "bottleneck".
        stage_blocks: None, or the blocks per stage (then block_type is needed too).

    Returns:
        The depth, the block type and the blocks per stage, checked and consistent.

    Raises:
        ArgumentError: an unknown depth without stage_blocks, a block_type that is not the
            depth's, stage_blocks without a block_type, or a depth the blocks do not make.
    """
    if stage_blocks is None:
        depth = check_choice("depth", 50 if depth is None else depth, tuple(IMAGENET_LAYOUTS))
        own_type, stage_blocks = IMAGENET_LAYOUTS[depth]
        if block_type is not None and block_type != own_type:
            raise ArgumentError(
                "block_type",
                block_type,
                f"{own_type!r} or None for depth={depth}",
                reason=(
                    f"ResNet-{depth} has {own_type} blocks, not block_type={block_type!r}; give "
                    f"stage_blocks too for another layout."
                ),
            )
        return depth, own_type, stage_blocks
    stage_blocks = check_int_tuple("stage_blocks", stage_blocks)
    if not stage_blocks:
        raise ArgumentError("stage_blocks", stage_blocks, "a sequence of positive integers")
    if block_type is None:
        raise ArgumentError(
            "block_type",
            block_type,
            "'basic' or 'bottleneck' with stage_blocks",
            reason="stage_blocks needs a block_type: 'basic' or 'bottleneck'.",
        )
    block_type = check_choice("block_type", block_type, BLOCK_TYPES)
    made = layout_depth(block_type, stage_blocks)
    if depth is not None and (not is_int(depth) or depth != made):
        raise ArgumentError(
            "depth",
            depth,
            f"{made} or None",
            reason=(
                f"block_type={block_type!r} with stage_blocks={stage_blocks} makes a ResNet of "
                f"depth {made}, not depth={depth!r}; leave depth None or make them agree."
            ),
        )
    return made, block_type, stage_blocks


def _check_per_stage(name: str, value: Any, stage_blocks: tuple[int, ...]) -> tuple[int, ...]:
    values = check_int_tuple(name, value)
    if len(values) != len(stage_blocks):
        raise ArgumentError(
            name,
            value,
            f"one value per stage ({len(stage_blocks)})",
            reason=(
                f"{name}={value!r} has {len(values)} values, but stage_blocks={stage_blocks} "
                f"has {len(stage_blocks)} stages; give one per stage."
            ),
        )
    return values


def check_stage_widths(value: Any, width: int, stage_blocks: tuple[int, ...]) -> tuple[int, ...]:
    """Base filters per stage: `value` checked, or width * 2**s when it is None."""
    if value is None:
        return tuple(width * 2**s for s in range(len(stage_blocks)))
    return _check_per_stage("stage_widths", value, stage_blocks)


def check_stage_strides(value: Any, stage_blocks: tuple[int, ...]) -> tuple[int, ...]:
    """The stride of each stage's first block: `value` checked (1s and 2s), or (1, 2, 2, ...)."""
    if value is None:
        return (1,) + (2,) * (len(stage_blocks) - 1)
    strides = _check_per_stage("stage_strides", value, stage_blocks)
    if any(s not in (1, 2) for s in strides):
        raise ArgumentError("stage_strides", value, "one stride per stage, each 1 or 2")
    return strides


def check_cifar_depth(depth: Any) -> int:
    """Return `depth` if it is 6n + 2 for an integer n >= 1."""
    if not is_int(depth) or depth < 8 or (depth - 2) % 6 != 0:
        raise ArgumentError(
            "depth", depth, "an integer 6n + 2 with n >= 1, e.g. 20, 32, 44, 56, 110 or 1202"
        )
    return depth


def cifar_resnet_arguments(depth: int) -> dict[str, Any]:
    """The `ResNet` arguments of the paper's CIFAR ResNet of `depth` = 6n + 2 layers.

    Args:
        depth: 20, 32, 44, 56, 110 (the paper's), or another 6n + 2 such as 8 or 1202.

    Returns:
        depth, block_type, stage_blocks (n, n, n) and stem (`CIFAR_RESNET`), then
        `CIFAR_RESNET_DEFAULTS`: `ResNet(**cifar_resnet_arguments(56))` is ResNet-56.

    Raises:
        ArgumentError: `depth` is not 6n + 2.
    """
    n = (check_cifar_depth(depth) - 2) // 6
    return {"depth": depth, "stage_blocks": (n,) * 3, **CIFAR_RESNET, **CIFAR_RESNET_DEFAULTS}
