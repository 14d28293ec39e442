"""TensorFlow ops tf2onnx cannot convert on its own, converted here (registered once).

- `Erfc`: TensorFlow's exact GELU (Keras's `gelu`, `vgg_fast`'s default activation) computes
  `0.5 * x * erfc(-x / sqrt(2))`; ONNX has `Erf` but not `Erfc`, so it becomes `1 - Erf(x)`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.cache
def register_onnx_ops() -> None:
    """Registers the handlers with tf2onnx (which must be installed); later calls do nothing."""
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:  # Erf: opset 9
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
            ctx.insert_new_node_on_output(
                "Sub",
                node.output[0],
                inputs=[one.output[0], node.output[0]],
                name=utils.make_name(f"{node.name}_erfc"),
            )

    del Erfc  # tf_op keeps it
