"""Evaluate a trained model: top-1, top-5 and loss over a dataset's whole test split.

deepnets-evaluate --model_dir=runs/r18                 # newest checkpoint, the run's dataset
deepnets-evaluate --model_path=runs/r18/final.keras --dataset=shapes10
"""

from __future__ import annotations

import json

from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary

quiet_tensorflow_logs()  # before TensorFlow is imported

PROGRAM = "deepnets-evaluate"
flags.DEFINE_string("model_dir", None, "A training run folder: evaluates its newest checkpoint.")
flags.DEFINE_string("checkpoint", None, "A checkpoint path inside --model_dir to use instead.")
flags.DEFINE_string("model_path", None, "A saved .keras model to evaluate instead of a run.")
flags.DEFINE_string("dataset", None, "Dataset name (default: the run's dataset).")
flags.DEFINE_string("data_dir", None, "tfds data directory (default: the run's).")
flags.DEFINE_integer("batch_size", 256, "Global evaluation batch size.")
flags.DEFINE_integer("image_size", None, "Input size (default: the run's, or the dataset's).")
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    with cli_errors(PROGRAM):
        if (FLAGS.model_dir is None) == (FLAGS.model_path is None):
            raise ValueError("--model_dir or --model_path: give exactly one of them")
        if FLAGS.batch_size <= 0:
            raise ValueError(f"--batch_size={FLAGS.batch_size} must be a positive integer")
    import tensorflow as tf

    import deepnets  # noqa: F401  (registers the layers for load_model)
    from deepnets.training import evaluate
    from deepnets.training.restore import restore_model

    dataset, data_dir, image_size = FLAGS.dataset, FLAGS.data_dir, FLAGS.image_size
    with cli_errors(PROGRAM, "--model_dir" if FLAGS.model_dir else "--model_path"):
        try:
            if FLAGS.model_dir:
                model, cfg, source = restore_model(FLAGS.model_dir, FLAGS.checkpoint)
                dataset = dataset or cfg.dataset
                data_dir = data_dir or cfg.data_dir
                image_size = image_size or cfg.image_size
            else:
                model, source = tf.keras.models.load_model(FLAGS.model_path), FLAGS.model_path
        except (FileNotFoundError, OSError) as err:
            raise ValueError(str(err)) from err
    with cli_errors(PROGRAM, "--dataset"):
        if dataset is None:
            raise ValueError("give the dataset to evaluate on, e.g. --dataset=shapes10")
        metrics = evaluate(
            model,
            dataset,
            global_batch_size=FLAGS.batch_size,
            data_dir=data_dir,
            image_size=image_size,
        )
    print(f"Evaluated {source} on {dataset}: " + json.dumps(metrics, sort_keys=True), flush=True)


def run() -> None:
    """Console-script entry point (deepnets-evaluate)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
