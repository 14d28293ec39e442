"""This machine's peak, measured: a large matmul and a 3x3 convolution.

Both run inside a `tf.function` on random data of the benchmark's compute dtype (float32, or
bfloat16/float16 under a mixed policy) and are counted as 2 FLOPs per
multiply-add: a (n x n) @ (n x n) matmul is 2 n^3 FLOPs; a stride-1 "SAME" 3x3 convolution of a
[batch, size, size, c_in] NHWC tensor to c_out channels is 2 * batch * size^2 * 9 * c_in * c_out.
The convolution is the better yardstick for these networks: it is the op they spend their time
in, with the kernel the training step itself uses (oneDNN on CPU, cuDNN on GPU).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from deepnets.benchmarks.timing import Contender, rate


@dataclasses.dataclass(frozen=True)
class PeakSizes:
    """Problem sizes of the peak measurements.

    Attributes:
        matmul_size: side n of the square matmul.
        conv_batch: batch of the convolution.
        conv_size: height and width of its input.
        conv_channels: its input and output channels.
        calls: op calls per timed repetition.
    """

    matmul_size: int = 4096
    conv_batch: int = 64
    conv_size: int = 32
    conv_channels: int = 256
    calls: int = 3


def matmul_contender(size: int, dtype: str = "float32") -> Contender:
    """A contender whose unit of work is one product of two (size x size) matrices.

    Args:
        size: side of the matrices.
        dtype: their dtype.

    Returns:
        A function `(calls) -> achieved FLOP/s`.
    """
    a = tf.cast(tf.random.normal((size, size), seed=1), dtype)
    b = tf.cast(tf.random.normal((size, size), seed=2), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y), tf.float32)))

    def work(calls: int) -> None:
        for _ in range(calls):
            result = matmul(a, b)
        result.numpy()

    return lambda calls: rate(lambda: work(calls), calls * 2.0 * size**3)


def conv_contender(batch: int, size: int, channels: int, dtype: str = "float32") -> Contender:
    """A contender whose unit of work is one stride-1 "SAME" 3x3 NHWC convolution.

    Args:
        batch: batch size.
        size: input height and width.
        channels: input and output channels.
        dtype: the dtype of its input and kernel.

    Returns:
        A function `(calls) -> achieved FLOP/s`.
    """
    images = tf.cast(tf.random.normal((batch, size, size, channels), seed=3), dtype)
    kernel = tf.cast(tf.random.normal((3, 3, channels, channels), seed=4), dtype)
    conv = tf.function(
        lambda x, k: tf.reduce_sum(tf.cast(tf.nn.conv2d(x, k, 1, "SAME"), tf.float32))
    )
    flops = 2.0 * batch * size * size * 9 * channels * channels

    def work(calls: int) -> None:
        for _ in range(calls):
            result = conv(images, kernel)
        result.numpy()

    return lambda calls: rate(lambda: work(calls), calls * flops)


def peak_contenders(sizes: PeakSizes, dtype: str = "float32") -> dict[str, Contender]:
    """The matmul and convolution contenders, each doing `sizes.calls` ops whatever it is asked.

    Interleave them with the contenders they are a yardstick for (`interleaved_rates`), so that
    a busy machine lowers the peak and the measured rates alike.

    Args:
        sizes: the problem sizes.
        dtype: the dtype the ops compute in.

    Returns:
        {"matmul": ..., "conv": ...}, each a function `(ignored) -> FLOP/s`.
    """
    matmul = matmul_contender(sizes.matmul_size, dtype)
    conv = conv_contender(sizes.conv_batch, sizes.conv_size, sizes.conv_channels, dtype)
    return {"matmul": lambda _: matmul(sizes.calls), "conv": lambda _: conv(sizes.calls)}
