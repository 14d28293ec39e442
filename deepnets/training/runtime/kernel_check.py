"""The kernel check of one convolution shape: float32 results against a float64 reference.

For one convolution (`Case`) it computes the forward pass, the input gradient and the weight
gradient in float32 inside a `tf.function`, several times on the same inputs, and compares each
with the same computation in float64 (TensorFlow's Eigen kernels: oneDNN has none in float64).
A part is WRONG when its largest error exceeds the tolerance times the reference's largest
entry, VARIES when the repeats differ in any bit.

`benchmarks.kernel_check` runs it on the shapes deepnets models are made of;
`deepnets.training.runtime.kernel_verdicts` on the shapes of one model, in a process of its own:

    python -m deepnets.training.runtime.kernel_check '["1x1 stride 2, 3->8, 8x8", ...]'

prints {shape: "ok" | "VARIES" | "WRONG"} as JSON (the worst of the three parts).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

# Images per call and calls per shape when one model's shapes are checked: seconds in all.
MODEL_CHECK_BATCH = 4
MODEL_CHECK_REPEATS = 2
# The input size of a model's shape in the check: 32x32 as where the wrong weight gradient was
# measured (docs/performance.md) while that is cheap, 8x8 for the wide layers, so that a
# model's shapes check in seconds.
MODEL_CHECK_SIZES = ((64, 32), (None, 8))  # (up to this many channels, size)
TOLERANCE = 1e-4


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution: a square `kernel`, `stride`, channels in and out, a square input."""

    kernel: int
    stride: int
    channels_in: int
    channels_out: int
    size: int

    def __str__(self) -> str:
        return (
            f"{self.kernel}x{self.kernel} stride {self.stride}, "
            f"{self.channels_in}->{self.channels_out}, {self.size}x{self.size}"
        )

    @classmethod
    def parse(cls, text: str) -> Case:
        """The case `str(case)` wrote, e.g. "1x1 stride 2, 3->8, 8x8"."""
        found = re.fullmatch(r"(\d+)x\d+ stride (\d+), (\d+)->(\d+), (\d+)x\d+", text.strip())
        if not found:
            raise ValueError(f"case={text!r}: expected e.g. '1x1 stride 2, 3->8, 8x8'")
        return cls(*(int(group) for group in found.groups()))


PARTS = ("forward", "input gradient", "weight gradient")


@dataclasses.dataclass(frozen=True)
class Finding:
    """What the float32 results of one part of one case were, against the float64 reference."""

    case: Case
    part: str
    error: float  # largest |float32 - float64| over the largest |float64|, worst repeat
    distinct: int  # different float32 results among the repeats

    def verdict(self, tolerance: float) -> str:
        if self.error > tolerance:
            return "WRONG"
        return "VARIES" if self.distinct > 1 else "ok"


def convolution_parts(dtype, case: Case, batch_size: int, seed: int = 0):  # noqa: ANN001, ANN201
    """(inputs, kernel, upstream gradient) of `case` as `dtype` tensors, from one seed."""
    rng = np.random.default_rng(seed)
    padding = "VALID" if case.kernel == 1 else "SAME"
    images = rng.normal(size=(batch_size, case.size, case.size, case.channels_in))
    kernel = rng.normal(size=(case.kernel, case.kernel, case.channels_in, case.channels_out))
    out = tf.nn.conv2d(
        tf.zeros(images.shape, tf.float64), tf.zeros(kernel.shape, tf.float64), case.stride, padding
    ).shape
    upstream = rng.normal(size=out)
    return tuple(tf.constant(a, dtype) for a in (images, kernel, upstream)), padding


def convolve(images, kernel, upstream, stride: int, padding: str):  # noqa: ANN001, ANN201
    """Outputs, input gradient and weight gradient of sum(conv2d(images, kernel) * upstream)."""
    with tf.GradientTape() as tape:
        tape.watch([images, kernel])
        outputs = tf.nn.conv2d(images, kernel, stride, padding)
        total = tf.reduce_sum(outputs * upstream)
    return (outputs, *tape.gradient(total, [images, kernel]))


def check_case(
    case: Case, repeats: int, batch_size: int, compute: Callable | None = None
) -> list[Finding]:
    """The findings of the three parts of `case`: `compute` (default `convolve` in a
    `tf.function`) in float32 `repeats` times, against `convolve` in float64."""
    compute = compute or tf.function(convolve, autograph=False)
    parts32, padding = convolution_parts(tf.float32, case, batch_size)
    parts64, _ = convolution_parts(tf.float64, case, batch_size)
    reference = [t.numpy() for t in convolve(*parts64, case.stride, padding)]
    runs = [[t.numpy() for t in compute(*parts32, case.stride, padding)] for _ in range(repeats)]
    findings = []
    for i, part in enumerate(PARTS):
        scale = float(np.abs(reference[i]).max()) or 1.0
        error = max(float(np.abs(run[i] - reference[i]).max()) / scale for run in runs)
        distinct = len({run[i].tobytes() for run in runs})
        findings.append(Finding(case, part, error, distinct))
    return findings


def check_size(channels_in: int, channels_out: int) -> int:
    """The input size a model's convolution is checked at (`MODEL_CHECK_SIZES`)."""
    widest = max(channels_in, channels_out)
    return next(size for most, size in MODEL_CHECK_SIZES if most is None or widest <= most)


def convolution_cases(model: tf.keras.Model) -> list[Case]:
    """The distinct convolutions of `model` (nested layers included) as `Case`s, each at the
    input size `check_size` gives it.

    Only square, undilated, ungrouped `Conv2D` layers with square strides: the shapes deepnets
    models are made of and the ones the check computes.
    """
    cases = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, tf.keras.layers.Conv2D) or not layer.built:
            continue
        height, width, channels_in, channels_out = layer.kernel.shape
        stride = layer.strides[0]
        square = height == width and stride == layer.strides[1]
        if square and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1:
            size = check_size(channels_in, channels_out)
            cases.append(Case(height, stride, channels_in, channels_out, size))
    return list(dict.fromkeys(cases))


def case_verdicts(cases: Iterable[Case]) -> dict[str, str]:
    """{str(case): "ok" | "VARIES" | "WRONG"}: the worst verdict of the three parts of each."""
    order = ("ok", "VARIES", "WRONG")
    verdicts = {}
    for case in cases:
        findings = check_case(case, MODEL_CHECK_REPEATS, MODEL_CHECK_BATCH)
        verdicts[str(case)] = max((f.verdict(TOLERANCE) for f in findings), key=order.index)
    return verdicts


if __name__ == "__main__":
    print(json.dumps(case_verdicts(Case.parse(text) for text in json.loads(sys.argv[1]))))
