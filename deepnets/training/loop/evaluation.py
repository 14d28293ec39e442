"""Exact evaluation over a whole split, on any number of replicas.

The eval datasets yield `(image, label, weight)`: the last batch is padded so every replica gets
a full batch, and padding carries weight 0, so the weighted metrics and the confusion matrix
count every real example once whatever the replica count.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from deepnets import data
from deepnets.models.view_averaging import average_probabilities, check_test_time
from deepnets.training.loop.distributed_input import distribute
from deepnets.training.loop.metrics import ClassificationMetrics, ConfusionMatrix
from deepnets.training.optimization.optimizers import classification_loss

keras = tf.keras

EvalInputFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


class Evaluator:
    """Runs a model over a distributed `(image, label, weight)` dataset and reports metrics.

    Each evaluation also counts a confusion matrix (true class x top-1 prediction), read on
    every worker with the metrics and kept: `confusion_matrix()` returns the last one.

    Args:
        strategy: the strategy whose scope the model was built in.
        model: a Keras model returning logits (or probabilities if `from_probabilities`).
        num_classes: number of classes.
        from_probabilities: the model ends with softmax; take the log before the loss.
        flip: score each image by the mean of its and its mirror image's probabilities
            (test-time flip averaging; images NHWC).
        translate: also average views shifted by this many pixels (airbench's multi-crop
            averaging; see `deepnets.models.view_averaging`). 0: none.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        num_classes: int,
        from_probabilities: bool = False,
        flip: bool = False,
        translate: int = 0,
    ) -> None:
        self.strategy = strategy
        self.model = model
        self.num_classes = int(num_classes)
        self.from_probabilities = from_probabilities
        self.flip, self.translate = check_test_time(flip, translate)
        with strategy.scope():
            self.metrics = ClassificationMetrics(num_classes, prefix="eval")
            self.confusion = ConfusionMatrix(num_classes, name="eval_confusion_matrix")
        self._last_confusion: np.ndarray | None = None
        self._run = tf.function(self._eval_all)

    def _outputs(self, images: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.model(images, training=False), tf.float32)

    def _probabilities(self, images: tf.Tensor) -> tf.Tensor:
        outputs = self._outputs(images)
        return outputs if self.from_probabilities else tf.nn.softmax(outputs)

    # `_eval_all` needs AutoGraph (its loop over a distributed dataset); the step has no
    # Python control flow on tensors and is not converted (see `StepRunner`).
    @tf.autograph.experimental.do_not_convert
    def _eval_step(self, batch: Any) -> None:
        images, labels, weights = batch
        if self.flip or self.translate:  # the log of the views' mean probabilities
            probabilities = average_probabilities(
                self._probabilities, images, self.flip, self.translate
            )
            outputs = tf.math.log(tf.maximum(probabilities, 1e-12))
        else:
            outputs = self._outputs(images)
            if self.from_probabilities:
                outputs = tf.math.log(tf.maximum(outputs, 1e-12))
        if outputs.shape[-1] not in (None, self.num_classes):  # checked once, when tracing
            raise ValueError(
                f"the model outputs {outputs.shape[-1]} scores per example but the eval set "
                f"has {self.num_classes} classes"
            )
        per_example = classification_loss(labels, outputs)
        self.metrics.update(labels, outputs, per_example, sample_weight=weights)
        self.confusion.update_state(labels, outputs, sample_weight=weights)

    def _eval_all(self, dataset: Any) -> None:
        for batch in dataset:
            self.strategy.run(self._eval_step, args=(batch,))

    def evaluate(self, dataset: Any) -> dict[str, float]:
        """Evaluates over the whole dataset.

        Args:
            dataset: a distributed dataset (from `distributed_input.distribute`).

        Returns:
            {"loss", "top1", "top5", "examples"} (see `ClassificationMetrics.result`).
        """
        self.metrics.reset()
        self.confusion.reset_state()
        self._last_confusion = None
        with warnings.catch_warnings():
            # Tracing a loop over a distributed dataset reads its tf.data options in graph
            # mode, which makes TF warn on every trace; the options are not used here.
            warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data")
            self._run(dataset)
        metrics = self.metrics.result()
        # Read here, where every worker reads (a multi-worker sum is a collective), so that
        # the chief alone can ask for it later.
        self._last_confusion = self.confusion.counts_array()
        return metrics

    def confusion_matrix(self) -> np.ndarray:
        """The confusion matrix of the last `evaluate`, summed over replicas and workers.

        Returns:
            int64 [C, C]: row = true class, column = top-1 predicted class, each real example
            counted once (padding has weight 0). Row sums are the examples per class; the trace
            is the number of top-1 hits.

        Raises:
            RuntimeError: before the first evaluation ends.
        """
        if self._last_confusion is None:
            raise RuntimeError("no evaluation has ended yet: call evaluate(dataset) first")
        return self._last_confusion.copy()


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """What an evaluation of a dataset split found.

    Attributes:
        metrics: {"loss", "top1", "top5", "examples"} (see `evaluate`).
        confusion: int64 [C, C], true class x top-1 predicted class (see
            `Evaluator.confusion_matrix`).
        class_names: the dataset's class names by label ("0", "1", ... when it has none).
    """

    metrics: dict[str, float]
    confusion: np.ndarray
    class_names: tuple[str, ...]


def evaluate(
    model: keras.Model,
    dataset_name: str | data.DatasetSource,
    *,
    global_batch_size: int = 256,
    data_dir: str | None = None,
    image_size: int | None = None,
    download: bool = True,
    split: str = "test",
    preprocessing: Any = None,
    validation_split: float = 0.1,
    flip: bool = False,
    translate: int = 0,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, float]:
    """Evaluates a trained classifier on a split of a dataset.

    Args:
        model: a Keras model returning logits or probabilities (a last softmax layer, or a
            deepnets model with `classifier_activation="softmax"`, is recognized).
        dataset_name: the dataset: a name `deepnets.data.open_dataset` understands
            ("shapes10", "cifar10", an image folder's path), or a `deepnets.data.DatasetSource`
            already open (`data_dir`, `image_size`, `download` and `validation_split` are then
            its own and ignored here).
        global_batch_size: examples per evaluation batch over all replicas.
        data_dir: tfds data directory.
        image_size: input size the model expects (None: the dataset's own).
        download: allow tfds to download the dataset.
        split: the split to evaluate ("test" means "validation" where there is none, and an
            image folder's eval split).
        preprocessing: a `deepnets.data.Preprocessing` (a run's recorded one); None: the
            source's, derived from the dataset and `image_size`.
        validation_split: for an image folder without an eval folder, the held-out fraction
            (the run's, so that the same files are evaluated).
        flip: test-time flip averaging (see `Evaluator`).
        translate: test-time averaging over shifted views too (see `Evaluator`).
        strategy: the strategy the model was built under (None: the default strategy).

    Returns:
        {"loss", "top1", "top5", "examples"}: mean cross-entropy, accuracies as fractions and
        the number of examples evaluated. `evaluate_split` also gives the confusion matrix.
    """
    return evaluate_split(
        model,
        dataset_name,
        global_batch_size=global_batch_size,
        data_dir=data_dir,
        image_size=image_size,
        download=download,
        split=split,
        preprocessing=preprocessing,
        validation_split=validation_split,
        flip=flip,
        translate=translate,
        strategy=strategy,
    ).metrics


def evaluate_split(
    model: keras.Model,
    dataset_name: str | data.DatasetSource,
    *,
    global_batch_size: int = 256,
    data_dir: str | None = None,
    image_size: int | None = None,
    download: bool = True,
    split: str = "test",
    preprocessing: Any = None,
    validation_split: float = 0.1,
    flip: bool = False,
    translate: int = 0,
    strategy: tf.distribute.Strategy | None = None,
) -> EvalResult:
    """`evaluate`, with the confusion matrix and the dataset's class names.

    Args:
        model, dataset_name, global_batch_size, data_dir, image_size, download, split,
        preprocessing, validation_split, flip, translate, strategy: as for `evaluate`.

    Returns:
        An `EvalResult`: the metrics, the [C, C] confusion matrix and the class names, ready
        for `deepnets.training.reports.per_class.write_per_class_reports`.
    """

    strategy = strategy or tf.distribute.get_strategy()
    if isinstance(dataset_name, data.DatasetSource):
        source = dataset_name
        if preprocessing is not None:
            source = source.with_preprocessing(preprocessing)
    else:
        source = data.open_dataset(
            dataset_name,
            data_dir=data_dir,
            download=download,
            validation_split=validation_split,
            image_size=image_size,
            preprocessing=preprocessing,
            eval_split=split,
        )
    facts = source.facts

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return source.eval_dataset(
            global_batch_size, input_context=ctx, split=split, pad_to_full_batches=True
        )

    dataset = distribute(strategy, dataset_fn)
    evaluator = Evaluator(
        strategy,
        model,
        facts.num_classes,
        from_probabilities=outputs_probabilities(model),
        flip=flip,
        translate=translate,
    )
    metrics = evaluator.evaluate(dataset)
    names = facts.class_names or tuple(str(i) for i in range(facts.num_classes))
    return EvalResult(metrics, evaluator.confusion_matrix(), tuple(names))


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether `model` ends in a softmax (its outputs are probabilities, not logits).

    Reads the model's structure: a `classifier_activation` attribute (deepnets models), else
    the layer that produces the output: a `Softmax` layer, or a layer whose `activation` is
    softmax (e.g. `Dense(..., activation="softmax")` or `Activation("softmax")`).
    """
    activation = getattr(model, "classifier_activation", None)
    if activation is not None:
        return _is_softmax(activation)
    if hasattr(model, "classifier_activation") or not model.layers:
        return False
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    if isinstance(last, keras.Model):
        return outputs_probabilities(last)
    return _is_softmax(getattr(last, "activation", None))


def _is_softmax(activation: Any) -> bool:
    if activation is None:
        return False
    name = getattr(activation, "__name__", activation)
    return str(name) == "softmax"
