"""Export a trained model as a .keras file and a SavedModel.

deepnets-export --model_dir=runs/r18 --output_dir=exported/r18 [--softmax]

It reads the run folder's record and checkpoint only: the dataset is not needed.
"""

from __future__ import annotations

import os

from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary

PROGRAM = "deepnets-export"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported

from trainers.model_source import load_model_source  # noqa: E402

flags.DEFINE_string("output_dir", None, "Where model.keras and saved_model/ go.")
flags.DEFINE_boolean("softmax", False, "Serve probabilities instead of logits.")
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    source = load_model_source(PROGRAM)
    from deepnets.training import save_model_files, with_softmax

    model = with_softmax(source.model) if FLAGS.softmax else source.model
    keras_path = os.path.join(FLAGS.output_dir, "model.keras")
    saved_model_path = os.path.join(FLAGS.output_dir, "saved_model")
    with cli_errors(PROGRAM, "--output_dir"):
        save_model_files(model, keras_path, saved_model_path)
    print(f"Exported {source.description} to {keras_path} and {saved_model_path}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-export)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
