"""Export a trained model with its preprocessing and class names: .keras, SavedModel, LiteRT, ONNX.

deepnets-export --model_dir=runs/r18 --output_dir=exported/r18
deepnets-export --model_dir=runs/r18 --output_dir=exported/r18 --format=litert,onnx
deepnets-export --model_dir=runs/r18 --output_dir=exported/r18 --format=litert --quantize=none,int8

`model.keras` is a `deepnets.models.ImagePredictor` (uint8 images in, probabilities out, class
names recorded); `saved_model/` serves uint8 images and encoded image files and returns
probabilities and class names (see `deepnets.training.run_folder.serving`), loadable by
TensorFlow alone. `model.tflite` (LiteRT; `class_names.json` beside it) and `model.onnx` (class
names in its metadata) take uint8 images of one size and return probabilities, the preprocessing
inside (see `deepnets.training.run_folder.portable`); ONNX needs `pip install "deepnets[export]"`.
It reads the run folder's record and checkpoint only: the dataset is needed only to calibrate
`--quantize=int8` when `--calibration_images` is not given.
"""

from __future__ import annotations

from absl import flags

from trainers.cli import (
    check_flags,
    cli_errors,
    fail,
    quiet_tensorflow_logs,
    run_binary,
    skip_unused_imports,
)

PROGRAM = "deepnets-export"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

from trainers.model_source import ModelSource, load_predictor_source  # noqa: E402

flags.DEFINE_string("output_dir", None, "Where the exported files go.")
flags.DEFINE_list(
    "format",
    ["keras", "saved_model"],
    "What to write, comma-separated: keras (model.keras), saved_model (saved_model/), litert "
    "(model.tflite and class_names.json), onnx (model.onnx).",
)
flags.DEFINE_list(
    "quantize",
    ["none"],
    "The LiteRT files to write, comma-separated: none (float32, model.tflite), dynamic (int8 "
    "weights, model_dynamic.tflite), int8 (int8 weights and activations calibrated on a few "
    "hundred training images, model_int8.tflite).",
)
flags.DEFINE_string(
    "calibration_images",
    None,
    "For --quantize=int8: a folder of training images to calibrate on. Default: the run's "
    "recorded dataset (--model_dir).",
)
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    from deepnets.training import (
        EXPORT_FORMATS,
        QUANTIZATIONS,
        export_model,
        require_export_packages,
    )

    check_flags(PROGRAM, argv, choices={"format": EXPORT_FORMATS, "quantize": QUANTIZATIONS})
    if "onnx" in FLAGS.format:  # before the model is loaded
        try:
            require_export_packages("tf2onnx", "onnx")
        except ImportError as err:
            fail(PROGRAM, f"--format={','.join(FLAGS.format)}: {err}")
    if FLAGS.quantize != ["none"] and "litert" not in FLAGS.format:
        quantize = ",".join(FLAGS.quantize)
        fail(PROGRAM, f"--quantize={quantize}: it chooses the litert files; add litert to --format")
    predictor, source = load_predictor_source(PROGRAM)
    calibration = _calibration_images(predictor, source) if "int8" in FLAGS.quantize else None
    with cli_errors(PROGRAM, "--output_dir"):
        written = export_model(
            predictor,
            FLAGS.output_dir,
            FLAGS.format,
            quantize=FLAGS.quantize,
            calibration_images=calibration,
        )
    paths = list(written.values())
    where = " and ".join(paths) if len(paths) < 3 else ", ".join(paths[:-1]) + f" and {paths[-1]}"
    print(f"Exported {source.description} to {where}", flush=True)


def _calibration_images(predictor, source: ModelSource):  # noqa: ANN001, ANN202
    """The images to calibrate --quantize=int8 on: --calibration_images, else the run's data."""
    from deepnets.data import DatasetUnavailableError
    from deepnets.training import (
        calibration_images_of_folder,
        calibration_images_of_run,
        portable_input_shape,
    )

    with cli_errors(PROGRAM, "--format"):
        shape = portable_input_shape(predictor.preprocessing)
    if FLAGS.calibration_images:
        with cli_errors(PROGRAM, "--calibration_images"):
            return calibration_images_of_folder(FLAGS.calibration_images, shape)
    if source.record is None:
        fail(
            PROGRAM,
            "--quantize=int8: a model file (--model_path) has no recorded dataset to calibrate "
            "on; give --calibration_images=FOLDER (a few hundred training images)",
        )
    try:
        return calibration_images_of_run(source.record, shape)
    except DatasetUnavailableError as err:
        fail(
            PROGRAM,
            f"--quantize=int8: the run's dataset is not here to calibrate on "
            f"({str(err).splitlines()[0]}); give --calibration_images=FOLDER",
        )


def run() -> None:
    """Console-script entry point (deepnets-export)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
