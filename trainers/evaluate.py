"""Evaluate a trained model: top-1, top-5 and loss over a dataset's whole evaluation split.

deepnets-evaluate --model_dir=runs/r18                 # newest checkpoint, the run's dataset
deepnets-evaluate --model_path=runs/r18/final.keras --dataset=shapes10 --report_dir=out
deepnets-evaluate --model_path=runs/fast/final.keras --dataset=data/cifar10 --eval_flip \
    --eval_translate=1                                 # a bare network, with test-time views

A run folder and an exported model are scored with the test-time views the run used
(`--eval_flip`, `--eval_translate`); a bare network file (final.keras) with none unless the flags
say so. The flags override either.

It also writes per-class accuracy and the confusion matrix (per_class.csv, confusion_matrix.csv,
confusion_matrix.png): for a run folder into `<model_dir>/evaluation/ckpt-<step>/` (with
`-<dataset>` appended when another dataset than the run's is evaluated), for a model file only
when --report_dir is given. Each file is written atomically and nothing else of the run folder
is touched, so this works while the run trains. The last line printed is the metrics' JSON.
"""

from __future__ import annotations

import json
import os

from absl import flags

from trainers.cli import cli_errors, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "deepnets-evaluate"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

from trainers.model_source import ModelSource, load_model_source  # noqa: E402

flags.DEFINE_string("dataset", None, "Dataset name (default: the run's dataset).")
flags.DEFINE_string("data_dir", None, "tfds data directory (default: the run's).")
flags.DEFINE_integer("batch_size", 256, "Global evaluation batch size.", lower_bound=1)
flags.DEFINE_integer(
    "image_size", None, "Input size for --model_path (a run uses its recorded preprocessing)."
)
flags.DEFINE_boolean(
    "eval_flip",
    None,
    "Average each image's scores with its mirror image's (default: as the run or the export "
    "was evaluated; none for a bare model file).",
)
flags.DEFINE_integer(
    "eval_translate",
    None,
    "Also average the views shifted this many pixels up-left and down-right (default: as the "
    "run or the export was evaluated; none for a bare model file).",
    lower_bound=0,
)
flags.DEFINE_string(
    "report_dir",
    None,
    "Folder for per_class.csv, confusion_matrix.csv and confusion_matrix.png (default: "
    "<model_dir>/evaluation/ckpt-<step>; with --model_path, none are written without it).",
)
FLAGS = flags.FLAGS


def run_dataset(record: object) -> str:
    """The run's dataset; an image folder by its absolute path (a relative one works from
    another working directory)."""
    return record.dataset.folder or record.config.dataset


def default_report_dir(source: ModelSource, dataset: str) -> str | None:
    """`<model_dir>/evaluation/<checkpoint name>[-<dataset>]` for a run folder, else None."""
    if source.record is None or not FLAGS.model_dir:
        return None
    name = os.path.basename(source.description)
    if dataset != run_dataset(source.record):
        name += "-" + dataset.replace("/", "_").replace(":", "_")
    from deepnets.training import RunFolder

    return RunFolder(FLAGS.model_dir).evaluation_reports(name)


def main(argv: list[str]) -> None:
    del argv
    source = load_model_source(PROGRAM)
    from deepnets.models import ImagePredictor
    from deepnets.training import evaluate_split, per_class_summary, write_per_class_reports

    record = source.record
    model, preprocessing = source.model, record.preprocessing if record else None
    flip = bool(record and record.config.eval_flip)
    translate = record.config.eval_translate if record else 0
    if isinstance(model, ImagePredictor):  # an export: its own preprocessing, then its network
        flip, translate = model.flip, model.translate
        model, preprocessing = model.classifier, model.preprocessing
    if FLAGS.eval_flip is not None:
        flip = FLAGS.eval_flip
    if FLAGS.eval_translate is not None:
        translate = FLAGS.eval_translate
    dataset = FLAGS.dataset or (run_dataset(record) if record else None)
    with cli_errors(PROGRAM, "--dataset"):
        if dataset is None:
            raise ValueError("give the dataset to evaluate on, e.g. --dataset=shapes10")
        result = evaluate_split(
            model,
            dataset,
            global_batch_size=FLAGS.batch_size,
            data_dir=FLAGS.data_dir or (record.config.data_dir if record else None),
            image_size=FLAGS.image_size,
            split=record.dataset.eval_split if record else "test",
            preprocessing=preprocessing,
            validation_split=record.config.validation_split if record else 0.1,
            flip=flip,
            translate=translate,
        )
    names = result.class_names
    if record and dataset == run_dataset(record) and len(record.class_names) == len(names):
        names = record.class_names  # the names the model was trained with
    report_dir = FLAGS.report_dir or default_report_dir(source, dataset)
    if report_dir:
        with cli_errors(PROGRAM, "--report_dir"):
            write_per_class_reports(report_dir, result.confusion, names)
        print(per_class_summary(result.confusion, names), flush=True)
        print(f"Wrote per-class accuracy and the confusion matrix to {report_dir}", flush=True)
    report = json.dumps(result.metrics, sort_keys=True)
    print(f"Evaluated {source.description} on {dataset}: {report}", flush=True)


def run() -> None:
    """Console-script entry point (deepnets-evaluate)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
