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
    "carries its preprocessing and class names).",
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


def load_model_source(program: str) -> ModelSource:
    """Loads the model the flags name; a bad path exits with one line naming the flag."""
    with cli_errors(program):
        if (FLAGS.model_dir is None) == (FLAGS.model_path is None):
            raise ValueError("--model_dir or --model_path: give exactly one of them")
        if FLAGS.checkpoint and not FLAGS.model_dir:
            raise ValueError("--checkpoint: it names a checkpoint of --model_dir; give that too")
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


def load_predictor(program: str) -> tuple[Any, str]:
    """The model the flags name as an `ImagePredictor` (preprocessing and class names included).

    A run folder gives them through its run record; a `.keras` file must be an exported one.

    Returns:
        (predictor, where it came from).
    """
    predictor, source = load_predictor_source(program)
    return predictor, source.description


def load_predictor_source(program: str) -> tuple[Any, ModelSource]:
    """`load_predictor`, with the `ModelSource` it came from (its run record, if any).

    Returns:
        (predictor, source).
    """
    source = load_model_source(program)
    from deepnets.models import ImagePredictor

    if isinstance(source.model, ImagePredictor):
        return source.model, source
    if source.record is None:
        with cli_errors(program, "--model_path"):
            raise ValueError(
                f"{FLAGS.model_path} holds a model without its preprocessing and class names; "
                "give the run folder (--model_dir) or a model written by deepnets-export"
            )
    record = source.record
    predictor = ImagePredictor(
        source.model,
        record.preprocessing,
        record.class_names,
        flip=record.config.eval_flip,  # scored as the run evaluated
        translate=record.config.eval_translate,
    )
    return predictor, source
