"""Loss, top-1 and top-5 accuracy, and a confusion matrix, as Keras metrics for any strategy.

Create a `ClassificationMetrics` or a `ConfusionMatrix` inside `strategy.scope()`: Keras metric
variables are then sync-on-read with SUM aggregation, so each replica updates its own copy inside
`strategy.run` and reading `result()` outside it sums totals and counts over all replicas (and
workers: every worker must read, since the sum is a collective).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

keras = tf.keras


class ClassificationMetrics:
    """Mean loss, top-1 and top-k accuracy, optionally weighted per example.

    Args:
        num_classes: number of classes; top-k uses `k = min(5, num_classes)`.
        prefix: name prefix of the metric objects ("train", "eval").
    """

    def __init__(self, num_classes: int, prefix: str) -> None:
        self.top_k = min(5, int(num_classes))
        self.loss = keras.metrics.Mean(name=f"{prefix}_loss")
        self.top1 = keras.metrics.SparseCategoricalAccuracy(name=f"{prefix}_top1")
        self.topk = keras.metrics.SparseTopKCategoricalAccuracy(k=self.top_k, name=f"{prefix}_top5")

    def update(
        self,
        labels: tf.Tensor,
        logits: tf.Tensor,
        per_example_loss: tf.Tensor,
        sample_weight: tf.Tensor | None = None,
        with_top_k: tf.Tensor | bool = True,
    ) -> None:
        """Adds one (per-replica) batch. Call inside `strategy.run`.

        Args:
            labels: integer labels [batch], or class probabilities [batch, classes] (counted
                as their likeliest class).
            logits: scores, [batch, classes].
            per_example_loss: [batch] losses.
            sample_weight: optional [batch] weights (0 drops an example, e.g. eval padding).
            with_top_k: also count top-k (a bool tensor: the training loop counts it on the
                last step of a loop only, to keep it off the hot path).
        """
        if labels.shape.rank == 2:  # class probabilities (MixUp, CutMix): the likeliest class
            labels = tf.argmax(labels, axis=-1)
        labels = tf.reshape(labels, [-1])
        logits = tf.cast(logits, tf.float32)
        self.loss.update_state(per_example_loss, sample_weight=sample_weight)
        self.top1.update_state(labels, logits, sample_weight=sample_weight)
        if isinstance(with_top_k, bool):
            if with_top_k:
                self.topk.update_state(labels, logits, sample_weight=sample_weight)
            return

        def count() -> tf.Tensor:
            self.topk.update_state(labels, logits, sample_weight=sample_weight)
            return tf.constant(True)

        tf.cond(with_top_k, count, lambda: tf.constant(False))

    def result(self) -> dict[str, float]:
        """Reads the metrics, reduced over replicas. Call outside `strategy.run`.

        Returns:
            {"loss", "top1", "top5", "examples"}: accuracies as fractions in [0, 1] and the
            (weighted) number of examples seen since the last reset; top5 is over the batches
            it was counted on (in training: the last step of each loop).
        """
        return {
            "loss": float(self.loss.result()),
            "top1": float(self.top1.result()),
            "top5": float(self.topk.result()),
            "examples": float(tf.convert_to_tensor(self.loss.count)),
        }

    def reset(self) -> None:
        """Zeroes all totals and counts."""
        for metric in (self.loss, self.top1, self.topk):
            metric.reset_state()


class ConfusionMatrix(keras.metrics.Metric):
    """Weighted counts of (true class, top-1 predicted class) pairs.

    The counts are float32 by default, like every Keras metric total: with weights 0 and 1
    (eval padding) they are exact integers while one cell stays below 2**24 (16.7 million).

    Args:
        num_classes: C; the matrix is [C, C], rows true classes, columns predicted ones.
        name: the metric's name.
        dtype: of the counts (None: Keras' floatx, float32).
    """

    def __init__(
        self, num_classes: int, name: str = "confusion_matrix", dtype: str | None = None
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = int(num_classes)
        self.counts = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype=self.dtype,
            name="counts",
        )

    def update_state(
        self, labels: tf.Tensor, logits: tf.Tensor, sample_weight: tf.Tensor | None = None
    ) -> None:
        """Adds one (per-replica) batch. Call inside `strategy.run`.

        Args:
            labels: integer labels in [0, C), [batch].
            logits: scores, [batch, C]; the prediction is their argmax.
            sample_weight: optional [batch] weights (0 drops an example, e.g. eval padding).
        """
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        weights = tf.ones_like(labels, self.dtype) if sample_weight is None else sample_weight
        # The sum tf.math.confusion_matrix makes, without its per-batch label-range asserts.
        batch = tf.scatter_nd(
            tf.stack([labels, predictions], axis=1),
            tf.cast(tf.reshape(weights, [-1]), self.dtype),
            shape=(self.num_classes, self.num_classes),
        )
        self.counts.assign_add(batch)

    def result(self) -> tf.Tensor:
        """The [C, C] counts, summed over replicas when read outside `strategy.run`."""
        return tf.convert_to_tensor(self.counts)

    def counts_array(self) -> np.ndarray:
        """The counts as an int64 [C, C] array (weights rounded to whole examples)."""
        return np.rint(self.result().numpy()).astype(np.int64)

    def get_config(self) -> dict:
        """The constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_classes": self.num_classes}
