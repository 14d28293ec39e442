"""Export a trained model with its preprocessing and class names: a .keras file and a SavedModel.

deepnets-export --model_dir=runs/r18 --output_dir=exported/r18

`model.keras` is a `deepnets.models.ImagePredictor` (uint8 images in, probabilities out, class
names recorded); `saved_model/` serves uint8 images and encoded image files and returns
probabilities and class names (see `deepnets.training.run_folder.serving`), loadable by
TensorFlow alone.
It reads the run folder's record and checkpoint only: the dataset is not needed.
"""

from __future__ import annotations

import os

from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary

PROGRAM = "deepnets-export"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported

from trainers.model_source import load_predictor  # noqa: E402

flags.DEFINE_string("output_dir", None, "Where model.keras and saved_model/ go.")
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    predictor, description = load_predictor(PROGRAM)
    from deepnets.training import save_model_files

    keras_path = os.path.join(FLAGS.output_dir, "model.keras")
    saved_model_path = os.path.join(FLAGS.output_dir, "saved_model")
    with cli_errors(PROGRAM, "--output_dir"):
        save_model_files(predictor, keras_path, saved_model_path, predictor)
    print(f"Exported {description} to {keras_path} and {saved_model_path}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-export)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
