"""Muon for convolutional networks.

Keras' `keras.optimizers.Muon` orthogonalizes the momentum of 2-D variables only and sends
every other variable to its AdamW step. In a convolutional network that means the opposite of
what Muon is for: the 4-D convolution kernels (nearly all of the weights) get AdamW, and the
2-D classifier kernel, which Muon's authors say to leave to AdamW, gets the Newton-Schulz step.

`Muon` here keeps Keras' update, state and arguments and changes which variables take which
step: every kernel of rank >= 2 (convolutions viewed as `[kh * kw * in, out]` matrices, the
layout of Keller Jordan's CIFAR-10 runs) takes the Muon step, except the layers that
`exclude_layers` names (by default the deepnets classifier head); vectors (biases, BatchNorm)
and the excluded layers take the AdamW step at `learning_rate * adam_lr_ratio`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import tensorflow as tf

from deepnets.training.optimization.backbone import HEAD_LAYER

keras = tf.keras

# Variables whose path matches go to AdamW: the classifier head of every deepnets model.
HEAD_PATTERN = rf"(^|/){HEAD_LAYER}/"
# A matrix at least GRAM_MIN wide and GRAM_RATIO times longer than wide is orthogonalized in its
# Gram space (smaller ones pay more in the extra products than they save).
GRAM_RATIO = 4
GRAM_MIN = 64


@keras.utils.register_keras_serializable(package="deepnets")
class Muon(keras.optimizers.Muon):
    """Keras' Muon with convolution kernels orthogonalized and the classifier head left to AdamW.

    Args:
        learning_rate: a float or a schedule; the Muon step's rate (AdamW's is this times
            `adam_lr_ratio`).
        exclude_layers: regular expressions matched against variable paths; matching variables
            take the AdamW step. Default: the deepnets classifier head (`HEAD_PATTERN`).
        **kwargs: every other argument of `keras.optimizers.Muon` (momentum, nesterov,
            weight_decay, adam_weight_decay, adam_beta_1/2, epsilon, rms_rate, ns_steps, ...).
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        exclude_layers: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if exclude_layers is None:
            exclude_layers = [HEAD_PATTERN]
        super().__init__(learning_rate=learning_rate, exclude_layers=exclude_layers, **kwargs)

    def _should_use_adamw(self, variable: Any) -> bool:
        if len(variable.shape) < 2:
            return True
        if self.exclude_embeddings and "embedding" in variable.path.lower():
            return True
        return any(re.search(keyword, variable.path) for keyword in self.exclude_layers)

    def uses_muon(self, variable: Any) -> bool:
        """Whether `variable` takes the Muon step (else the AdamW step)."""
        return not self._should_use_adamw(variable)

    def zeropower_via_newtonschulz5(self, x: Any, steps: int) -> Any:
        """Keras' Newton-Schulz iteration; for a wide matrix, iterated in its small Gram space.

        Every iterate of the quintic iteration is `Q X` with `Q` a polynomial in `A = X X^T`
        (`X` normalized, `m x n` with `m <= n`), so for a conv kernel flattened to
        `[9 * in, out]` the iteration can run on `m x m` matrices: `A_k = Q A Q^T`,
        `Q <- (a + b A_k + c A_k^2) Q`, and one product `Q X` at the end. That is the same
        result (to float32 rounding) at about a third of the multiplications for a 128 x 1152
        kernel (2.5x faster alone on a 2-core CPU); for matrices narrower than `GRAM_MIN` or
        closer to square than `GRAM_RATIO`, Keras' own iteration runs.
        """
        shape = tuple(x.shape)
        if len(shape) != 2 or min(shape) < GRAM_MIN or max(shape) < GRAM_RATIO * min(shape):
            return super().zeropower_via_newtonschulz5(x, steps)
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = shape[0] > shape[1]
        if tall:
            x = tf.transpose(x)
        x = x / (tf.norm(x) + 1e-7)
        gram = tf.matmul(x, x, transpose_b=True)
        identity = tf.eye(min(shape), dtype=x.dtype)
        q = identity
        for _ in range(steps):
            a_k = tf.matmul(tf.matmul(q, gram), q, transpose_b=True)
            q = tf.matmul(a * identity + b * a_k + c * tf.matmul(a_k, a_k), q)
        x = tf.matmul(q, x)
        return tf.transpose(x) if tall else x

    def _muon_update_step(self, gradient: Any, variable: Any, lr: Any, m: Any) -> None:
        shape = tuple(variable.shape)
        matrix = (math.prod(shape[:-1]), shape[-1])  # [fan-in, fan-out]
        self.assign_add(m, gradient + m * (self.momentum - 1))
        g = gradient + self.momentum * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(tf.reshape(g, matrix), self.ns_steps)
        if self.rms_rate is not None:  # Keras' (Moonlight's) scale: an update RMS of rms_rate
            update = update * (math.sqrt(max(matrix)) * self.rms_rate)
        self.assign_sub(variable, tf.reshape(lr * update, shape))
