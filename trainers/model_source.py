"""The flags and loading shared by the binaries that read a trained model.

`deepnets-evaluate`, `deepnets-export` and `deepnets-predict` take the model from a training run
folder (`--model_dir`, newest or `--checkpoint`) or from a saved model file (`--model_path`). A run
folder carries its run record, so its model, classes and preprocessing are known without data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import flags

from trainers.cli import cli_errors

flags.DEFINE_string("model_dir", None, "A training run folder: uses its newest checkpoint.")
flags.DEFINE_string("checkpoint", None, "A checkpoint path of --model_dir to use instead.")
flags.DEFINE_string(
    "model_path",
    None,
    "A saved model to use instead of a run folder: a .keras file (deepnets-export's model.keras "
    "carries its preprocessing and class names); deepnets-predict also takes the SavedModel "
    "folder deepnets-export writes.",
)
FLAGS = flags.FLAGS


@dataclasses.dataclass
class ModelSource:
    """A loaded model and what is known about it.

    Attributes:
        model: the Keras model.
        record: the run record (`deepnets.training.RunRecord`) for a run folder, else None.
        description: the checkpoint or file it came from.
    """

    model: Any
    record: Any
    description: str


def _check_source_flags(program: str) -> None:
    with cli_errors(program):
        if (FLAGS.model_dir is None) == (FLAGS.model_path is None):
            raise ValueError("--model_dir or --model_path: give exactly one of them")
        if FLAGS.checkpoint and not FLAGS.model_dir:
            raise ValueError("--checkpoint: it names a checkpoint of --model_dir; give that too")


def load_model_source(program: str) -> ModelSource:
    """Loads the model the flags name; a bad path exits with one line naming the flag."""
    _check_source_flags(program)
    import tensorflow as tf

    import deepnets  # noqa: F401  (registers the layers for load_model)
    from deepnets.training import restore_model

    if FLAGS.model_dir:
        with cli_errors(program, "--model_dir"):
            model, record, checkpoint = restore_model(FLAGS.model_dir, FLAGS.checkpoint)
        return ModelSource(model, record, checkpoint)
    with cli_errors(program, "--model_path"):
        model = tf.keras.models.load_model(FLAGS.model_path)
    return ModelSource(model, None, FLAGS.model_path)


def load_classifier(program: str) -> Any:
    """The model the flags name as a `deepnets.inference.TrainedClassifier` (preprocessing and
    class names included): a run folder, an exported `.keras` file or SavedModel folder.

    A bad flag or path exits with one line naming the flag.
    """
    _check_source_flags(program)
    from deepnets.inference import load_classifier as load

    flag = "--model_dir" if FLAGS.model_dir else "--model_path"
    with cli_errors(program, flag):
        return load(FLAGS.model_dir or FLAGS.model_path, FLAGS.checkpoint)


def load_predictor(program: str) -> tuple[Any, str]:
    """The model the flags name as an `ImagePredictor` (preprocessing and class names included).

    A run folder gives them through its run record; a `.keras` file must be an exported one.

    Returns:
        (predictor, where it came from).
    """
    classifier = load_classifier(program)
    predictor = getattr(classifier, "predictor", None)
    if predictor is None:
        with cli_errors(program, "--model_path"):
            raise ValueError(
                f"{FLAGS.model_path} is a SavedModel; give the run folder (--model_dir) or the "
                "model.keras it was exported with"
            )
    return predictor, classifier.description


def load_predictor_source(program: str) -> tuple[Any, ModelSource]:
    """`load_predictor`, with where it came from and the run's record (None for a model file),
    which `deepnets-export` reads the recorded dataset from.

    Returns:
        (predictor, source).
    """
    predictor, description = load_predictor(program)
    record = None
    if FLAGS.model_dir:
        from deepnets.training import RunFolder

        with cli_errors(program, "--model_dir"):
            record = RunFolder(FLAGS.model_dir).read_record()
    return predictor, ModelSource(predictor, record, description)
