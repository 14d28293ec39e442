"""FLOP counting from layers, checked against the published multiply-accumulate counts."""

import pytest

import deepnets
from benchmarks.flops import forward_flops, forward_macs


@pytest.mark.parametrize(
    "name, overrides, size, expected_gmacs",
    [
        # ResNet-50 v1.5 at 224x224: 4.09 GMACs, the figure torchvision publishes.
        ("resnet50", {"variant": "v1.5"}, 224, 4.089),
        # v1 strides in the first 1x1, so its first block of each stage costs less.
        ("resnet50", {}, 224, 3.858),
        # At 32x32 (DESIGN.md anchors): ImageNet stem 0.084 G, CIFAR stem 1.30 G (v1.5);
        ("resnet50", {"variant": "v1.5", "num_classes": 100}, 32, 0.0836),
        ("resnet50", {"variant": "v1.5", "stem": "cifar", "num_classes": 100}, 32, 1.298),
        # VGG16 at 32x32: 0.33 G.
        ("vgg16", {"num_classes": 100}, 32, 0.3325),
    ],
)
def test_forward_macs_match_published_counts(name, overrides, size, expected_gmacs):
    model = deepnets.build_model(name, **overrides)
    macs = forward_macs(model, (size, size, 3))
    assert macs / 1e9 == pytest.approx(expected_gmacs, rel=2e-3)


def test_flops_are_twice_macs_and_count_dense_layers():
    model = deepnets.build_model("vgg11", width=4, fc_units=8, num_classes=3)
    macs = forward_macs(model, (32, 32, 3))
    assert forward_flops(model, (32, 32, 3)) == 2 * macs
    bigger_head = deepnets.build_model("vgg11", width=4, fc_units=16, num_classes=3)
    # Dense layers are counted: 32->8->8->3 becomes 32->16->16->3.
    head_16 = 32 * 16 + 16 * 16 + 16 * 3
    head_8 = 32 * 8 + 8 * 8 + 8 * 3
    assert forward_macs(bigger_head, (32, 32, 3)) - macs == head_16 - head_8
