"""Loss, top-1 and top-5 accuracy as Keras metric objects that work under any strategy.

Create a `ClassificationMetrics` inside `strategy.scope()`: Keras metric variables are then
sync-on-read with SUM aggregation, so each replica updates its own copy inside `strategy.run`
and reading `result()` outside it sums totals and counts over all replicas (and workers).
"""

from __future__ import annotations

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
    ) -> None:
        """Adds one (per-replica) batch. Call inside `strategy.run`.

        Args:
            labels: integer labels, [batch].
            logits: scores, [batch, classes].
            per_example_loss: [batch] losses.
            sample_weight: optional [batch] weights (0 drops an example, e.g. eval padding).
        """
        labels = tf.reshape(labels, [-1])
        logits = tf.cast(logits, tf.float32)
        self.loss.update_state(per_example_loss, sample_weight=sample_weight)
        self.top1.update_state(labels, logits, sample_weight=sample_weight)
        self.topk.update_state(labels, logits, sample_weight=sample_weight)

    def result(self) -> dict[str, float]:
        """Reads the metrics, reduced over replicas. Call outside `strategy.run`.

        Returns:
            {"loss", "top1", "top5", "examples"}: accuracies as fractions in [0, 1] and the
            (weighted) number of examples seen since the last reset.
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
