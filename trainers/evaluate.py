"""Evaluate a trained model: top-1, top-5 and loss over a dataset's whole evaluation split.

deepnets-evaluate --model_dir=runs/r18                 # newest checkpoint, the run's dataset
deepnets-evaluate --model_path=runs/r18/final.keras --dataset=shapes10
"""

from __future__ import annotations

import json

from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary

PROGRAM = "deepnets-evaluate"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported

from trainers.model_source import load_model_source  # noqa: E402

flags.DEFINE_string("dataset", None, "Dataset name (default: the run's dataset).")
flags.DEFINE_string("data_dir", None, "tfds data directory (default: the run's).")
flags.DEFINE_integer("batch_size", 256, "Global evaluation batch size.", lower_bound=1)
flags.DEFINE_integer(
    "image_size", None, "Input size for --model_path (a run uses its recorded preprocessing)."
)
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    del argv
    source = load_model_source(PROGRAM)
    from deepnets.training import evaluate

    record = source.record
    dataset = FLAGS.dataset or (record.config.dataset if record else None)
    with cli_errors(PROGRAM, "--dataset"):
        if dataset is None:
            raise ValueError("give the dataset to evaluate on, e.g. --dataset=shapes10")
        metrics = evaluate(
            source.model,
            dataset,
            global_batch_size=FLAGS.batch_size,
            data_dir=FLAGS.data_dir or (record.config.data_dir if record else None),
            image_size=FLAGS.image_size,
            split=record.dataset.eval_split if record else "test",
            preprocessing=record.preprocessing if record else None,
        )
    report = json.dumps(metrics, sort_keys=True)
    print(f"Evaluated {source.description} on {dataset}: {report}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-evaluate)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
