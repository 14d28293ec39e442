"""FLOP counting from layers, checked against published multiply-accumulate counts.

Sources of the figures ("FLOPs" in these papers and tables are multiply-accumulates):
- torchvision's model tables (the "GFLOPS" column of `torchvision.models`' weights docs):
  ResNet-50 4.09 G (torchvision's ResNet is v1.5), VGG16 15.47 G, at 224x224, 1000 classes.
- He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), Table 1: ResNet-50
  (v1, the stride in the first 1x1 of a block) 3.8 x 10^9.

The 32x32 figures follow from the 224x224 ones by arithmetic, shown beside each case.
"""

import pytest

import deepnets
from deepnets.benchmarks.flops import forward_flops, forward_macs


@pytest.mark.parametrize(
    "name, overrides, size, expected_gmacs",
    [
        # ResNet-50 v1.5 at 224x224: 4.09 GMACs (torchvision).
        ("resnet50", {"stride_in": "3x3"}, 224, 4.089),
        # v1 at 224x224: 3.8 G in He et al. Table 1 (3.858 G exactly): its first block of each
        # of stages 3-5 runs the 1x1 at the halved resolution, so it costs less than v1.5.
        ("resnet50", {}, 224, 3.858),
        # ImageNet stem at 32x32: every map is 224/32 = 7 times smaller per side than at 224
        # (16, 8, 8, 4, 2, 1 against 112, 56, 56, 28, 14, 7), so the convolutions cost 49x less;
        # the classifier (2048 x classes) does not shrink:
        # (4.089e9 - 2048 * 1000) / 49 + 2048 * 100 = 0.08341e9 + 0.00020e9 = 0.0836e9.
        ("resnet50", {"stride_in": "3x3", "num_classes": 100}, 32, 0.0836),
        # CIFAR stem at 32x32: stages 2-5 run at 32, 16, 8, 4 instead of 56, 28, 14, 7, a
        # (32/56)^2 = 16/49 share of their cost at 224; the 7x7/2 stem conv
        # (112 * 112 * 7 * 7 * 3 * 64 = 0.1180e9 at 224) becomes a 3x3/1 one:
        # (4.089e9 - 0.1180e9 - 0.0020e9) * 16/49 + 32 * 32 * 3 * 3 * 3 * 64 + 2048 * 100
        # = 1.2960e9 + 0.0018e9 + 0.0002e9 = 1.298e9.
        ("resnet50", {"stride_in": "3x3", "stem": "cifar", "num_classes": 100}, 32, 1.298),
        # VGG16 at 32x32: its convolutions cost 49x less than at 224 (all 'same' 3x3s, 2x2
        # pools: 32/224 = 1/7 per side); the fc head sees a 1x1x512 map instead of 7x7x512:
        # (15.47e9 - (25088 + 4096 + 1000) * 4096) / 49 + (512 + 4096) * 4096 + 4096 * 100
        # = 0.3132e9 + 0.0189e9 + 0.0004e9 = 0.3325e9.
        ("vgg16", {"num_classes": 100, "input_shape": (32, 32, 3)}, 32, 0.3325),
    ],
)
def test_forward_macs_match_published_counts(name, overrides, size, expected_gmacs):
    model = deepnets.build_model(name, **overrides)
    macs = forward_macs(model, (size, size, 3))
    assert macs / 1e9 == pytest.approx(expected_gmacs, rel=2e-3)


def test_flops_are_twice_macs_and_count_dense_layers():
    small = {"width": 4, "num_classes": 3, "input_shape": (32, 32, 3)}
    model = deepnets.build_model("vgg11", fc_units=8, **small)
    macs = forward_macs(model, (32, 32, 3))
    assert forward_flops(model, (32, 32, 3)) == 2 * macs
    bigger_head = deepnets.build_model("vgg11", fc_units=16, **small)
    # Dense layers are counted: 32->8->8->3 becomes 32->16->16->3.
    head_16 = 32 * 16 + 16 * 16 + 16 * 3
    head_8 = 32 * 8 + 8 * 8 + 8 * 3
    assert forward_macs(bigger_head, (32, 32, 3)) - macs == head_16 - head_8


def test_the_whitening_stem_counts_as_a_convolution():
    conv = deepnets.build_model("vgg_fast_half", input_shape=(32, 32, 3))
    white = deepnets.build_model("vgg_fast_half", stem_layer="whiten", input_shape=(32, 32, 3))
    whitening = 31 * 31 * (2 * 2 * 3) * 24  # a 2x2 valid convolution, 3 -> 24 channels
    # Then block1's first conv takes 24 channels (not the 16 of the conv stem) on 31 x 31, and
    # every later map is one pixel smaller per side than with the 3x3 "same" stem.
    block1 = 31 * 31 * 9 * 24 * 32 + 15 * 15 * 9 * 32 * 32
    block2 = 15 * 15 * 9 * 32 * 128 + 7 * 7 * 9 * 128 * 128
    block3 = 7 * 7 * 9 * 128 * 128 + 3 * 3 * 9 * 128 * 128
    assert forward_macs(white, (32, 32, 3)) == whitening + block1 + block2 + block3 + 128 * 10
    assert forward_macs(white, (32, 32, 3)) < forward_macs(conv, (32, 32, 3))
