"""Export a training run's checkpoint as a .keras model and a SavedModel.

deepnets-export --model_dir=runs/r18 --output_dir=exported/r18
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary

quiet_tensorflow_logs()  # before TensorFlow is imported

PROGRAM = "deepnets-export"
flags.DEFINE_string("model_dir", None, "A training run folder (config.json + checkpoints/).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path to export (default: the newest).")
flags.DEFINE_string("output_dir", None, "Where model.keras and saved_model/ go.")
flags.DEFINE_boolean("softmax", False, "Serve probabilities instead of logits.")
flags.mark_flags_as_required(["model_dir", "output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    import tensorflow as tf

    from deepnets.training.restore import restore_model

    with cli_errors(PROGRAM, "--model_dir"):
        try:
            model, _, checkpoint = restore_model(FLAGS.model_dir, FLAGS.checkpoint)
        except (FileNotFoundError, OSError) as err:
            raise ValueError(str(err)) from err
    if FLAGS.softmax:
        # Same architecture and weights, with the softmax inside the model.
        logits_model = model
        model = type(model).from_config(
            {**logits_model.get_config(), "classifier_activation": "softmax"}
        )
        model.build(tuple(logits_model.get_build_config()["input_shape"]))
        model.set_weights(logits_model.get_weights())
    input_shape = tuple(model.get_build_config()["input_shape"])
    model(np.zeros((1, *input_shape[1:]), "float32"))  # Keras exports only called models
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    keras_path = os.path.join(FLAGS.output_dir, "model.keras")
    saved_model_path = os.path.join(FLAGS.output_dir, "saved_model")
    model.save(keras_path)
    signature = [tf.TensorSpec((None, *input_shape[1:]), tf.float32, name="images")]
    model.export(saved_model_path, input_signature=signature, verbose=False)
    print(f"Exported {checkpoint} to {keras_path} and {saved_model_path}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-export)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
