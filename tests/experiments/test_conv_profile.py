"""experiments.conv_profile: every convolution of a model, grouped, its three kernels timed."""

import pytest
import tensorflow as tf

from deepnets.benchmarks.cases import IMAGE_SHAPE, MODEL_CASES
from deepnets.benchmarks.flops import forward_macs
from deepnets.benchmarks.peak import PeakSizes
from experiments.conv_profile import (
    DIRECTIONS,
    ceiling_text,
    conv_groups,
    conv_ops,
    format_table,
    peak_gflops,
    profile,
)


def test_groups_cover_every_convolution_once_with_its_flops():
    model = MODEL_CASES["resnet18_w16"].build_deepnets()
    groups = conv_groups(model, IMAGE_SHAPE)
    convs = [w for w in model.weights if len(w.shape) == 4]
    assert sum(g["count"] for g in groups) == len(convs)
    assert len(groups) < len(convs)  # the repeated 3x3 convolutions of a stage share a row
    dense = 16 * 8 * 100  # the classifier: 128 features x 100 classes
    assert sum(g["count"] * g["flops"] for g in groups) == 2 * (
        forward_macs(model, IMAGE_SHAPE) - dense
    )
    assert {g["key"][2] for g in groups} == {1, 2}  # stride-2 convolutions are their own rows


@pytest.mark.parametrize("strides, padding", [(1, "SAME"), (2, "SAME"), (1, "VALID")])
def test_the_three_kernels_are_the_convolution_and_its_gradients(strides, padding):
    ops = conv_ops((8, 8, 3), (3, 3, 3, 4), strides, padding, batch_size=2)
    x = tf.random.stateless_normal((2, 8, 8, 3), seed=[1, 0])
    k = tf.random.stateless_normal((3, 3, 3, 4), seed=[1, 1])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        y = tf.nn.conv2d(x, k, strides, padding)
    grad_x, grad_k = tape.gradient(y, [x, k], output_gradients=y)
    tf.debugging.assert_near(ops["forward"](), y, atol=1e-4)
    tf.debugging.assert_near(ops["grad_input"](), grad_x, atol=1e-3)
    tf.debugging.assert_near(ops["grad_weights"](), grad_k, atol=1e-3)


def test_profile_prints_a_row_per_convolution_and_the_totals():
    rows, reference = profile("resnet18_w16", batch_size=2, repetitions=1)
    assert all(r["ms"][d] > 0 and r["gflops"][d] > 0 for r in rows for d in DIRECTIONS)
    times = [sum(r["ms"].values()) for r in rows]
    assert times == sorted(times, reverse=True)
    text = format_table(rows, reference, top=3).splitlines()
    assert len(text) == 1 + 3 + 2
    assert text[-2].startswith("all convolutions of one step") and "x the reference" in text[-2]
    for row, line in zip(rows[:3], text[1:4], strict=True):
        assert line.split("%  ")[-1].startswith(row["layers"][0])  # the layers it stands for


def test_the_ceiling_is_the_convolutions_alone_against_the_peak():
    rows = [
        {"count": 2, "flops": 1e6, "batch_size": 10, "ms": dict.fromkeys(DIRECTIONS, 0.1)},
        {"count": 1, "flops": 4e6, "batch_size": 10, "ms": dict.fromkeys(DIRECTIONS, 0.2)},
    ]
    # 3 x 60 MFLOP in 0.9 ms = 200 GFLOP/s; against a 250 GFLOP/s peak, 80%.
    line = ceiling_text(rows, 250.0)
    assert "train at 200.0 GFLOP/s, 80.0% of it" in line and "is 250.0 GFLOP/s" in line
    peak = peak_gflops(1, PeakSizes(conv_batch=2, conv_size=8, conv_channels=8, calls=1))
    assert peak > 0


def test_importing_it_defines_no_flags_so_other_programs_can():
    from absl import flags

    import experiments.conv_profile  # noqa: F401 - the import is what is tested

    assert "step_repetitions" not in flags.FLAGS and "top" not in flags.FLAGS
