"""The exported files of one model, run in their own runtimes: accuracy, latency and size.

    deepnets-export --model_dir=runs/c100 --output_dir=exported/c100 \\
        --format=keras,saved_model,litert,onnx --quantize=none,dynamic,int8
    python -m experiments.export_formats --export_dir=exported/c100 --images=HELD_OUT_FOLDER

It feeds the same uint8 images (`--images`: PATH/<class>/<image>, the class folders named as
the model's classes) to `model.keras` made float32 (`deepnets.training.float32_predictor`, in a
`tf.function`: what the LiteRT and ONNX files are converted from), the SavedModel (TensorFlow,
`serve_images`; it computes in the run's precision, bfloat16 for a mixed_bfloat16 run), each
LiteRT file (`ai_edge_litert`'s interpreter) and the ONNX file (onnxruntime), all with
`--threads` threads, and prints one table: top-1 accuracy, top-1 agreement with the SavedModel
and with the float32 model, the largest probability difference from the float32 model,
milliseconds per image at batch 1 and at `--batch_size`, and the file size.

The runtimes take turns (interleaved): every batch of the accuracy pass and every round of the
batch-1 timing runs each of them once, the order rotating, so a neighbour's load on a shared
machine falls on all of them alike; times are medians over batches or rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from absl import flags

from trainers.cli import cli_errors, fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "export-formats-benchmark"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

flags.DEFINE_string("export_dir", None, "What deepnets-export wrote (saved_model/, *.tflite...).")
flags.DEFINE_string("images", None, "Held-out images: PATH/<class>/<image>.")
flags.DEFINE_integer("limit", None, "Use only this many images (evenly spaced); default: all.")
flags.DEFINE_integer("batch_size", 100, "Images per call in the accuracy pass.", lower_bound=1)
flags.DEFINE_integer("latency_rounds", 10, "Rounds of the batch-1 timing.", lower_bound=1)
flags.DEFINE_integer("latency_images", 20, "Single-image calls per runtime and round.")
flags.DEFINE_integer("threads", 2, "Threads of every runtime.", lower_bound=1)
flags.mark_flags_as_required(["export_dir", "images"])
FLAGS = flags.FLAGS

Runner = Callable[[np.ndarray], np.ndarray]
FLOAT32 = "Keras float32 (TensorFlow)"
SAVED_MODEL = "SavedModel (TensorFlow)"


def labelled_images(folder: str, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, h, w, 3] images and their labels (class folder -> index in `class_names`)."""
    import tensorflow as tf

    from deepnets.data.images import has_image_extension, read_image

    paths, labels = [], []
    for name in sorted(os.listdir(folder)):
        if name not in class_names:
            raise ValueError(f"class folder {name!r} is not one of the model's classes")
        files = sorted(f for f in os.listdir(os.path.join(folder, name)) if has_image_extension(f))
        paths += [os.path.join(folder, name, f) for f in files]
        labels += [class_names.index(name)] * len(files)
    if FLAGS.limit:
        keep = np.unique(np.linspace(0, len(paths) - 1, FLAGS.limit).astype(int))
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    images = [read_image(tf.constant(path)).numpy() for path in paths]
    return np.stack(images), np.array(labels)


def runners(export_dir: str) -> dict[str, tuple[Runner, int]]:
    """{name: (images -> probabilities, size in bytes)} of every exported file found."""
    import onnxruntime
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)

    from deepnets.training import float32_predictor

    found: dict[str, tuple[Runner, int]] = {}
    keras_file = os.path.join(export_dir, "model.keras")
    if os.path.exists(keras_file):  # what the LiteRT and ONNX files were converted from
        predictor = float32_predictor(tf.keras.models.load_model(keras_file))
        shape = [None, *predictor.preprocessing.input_shape]
        call = tf.function(predictor.call, input_signature=[tf.TensorSpec(shape, tf.uint8)])
        found[FLOAT32] = (lambda x: call(x).numpy(), _size(keras_file))
    saved_model = os.path.join(export_dir, "saved_model")
    if os.path.isdir(saved_model):
        loaded = tf.saved_model.load(saved_model)
        found[SAVED_MODEL] = (
            lambda x, m=loaded: m.serve_images(x)["probabilities"].numpy(),
            _folder_size(saved_model),
        )
    for name, label in (("model", "float"), ("model_dynamic", "dynamic"), ("model_int8", "int8")):
        path = os.path.join(export_dir, f"{name}.tflite")
        if os.path.exists(path):
            runner = Interpreter(model_path=path, num_threads=FLAGS.threads).get_signature_runner()
            found[f"LiteRT {label}"] = (lambda x, r=runner: r(images=x)["output_0"], _size(path))
    path = os.path.join(export_dir, "model.onnx")
    if os.path.exists(path):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = FLAGS.threads, 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        found["ONNX (onnxruntime)"] = (
            lambda x, s=session: s.run(None, {"images": x})[0],
            _size(path),
        )
    return found


def _size(path: str) -> int:
    return os.path.getsize(path)


def _folder_size(folder: str) -> int:
    return sum(_size(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files)


def interleaved(
    found: dict[str, tuple[Runner, int]], images: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, float]]:
    """Probabilities of every image, ms per image at `--batch_size` (median over batches) and
    at batch 1 (median over rounds), each runtime taking turns."""
    names = list(found)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    batched: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: first calls build graphs and allocate tensors
        found[name][0](images[: FLAGS.batch_size])
        found[name][0](images[:1])
    for turn, start in enumerate(range(0, len(images), FLAGS.batch_size)):
        batch = images[start : start + FLAGS.batch_size]
        for name in _rotated(names, turn):
            began = time.perf_counter()
            outputs[name].append(found[name][0](batch))
            batched[name].append((time.perf_counter() - began) * 1000 / len(batch))
    single: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(FLAGS.latency_rounds):
        picked = images[turn * FLAGS.latency_images :][: FLAGS.latency_images]
        for name in _rotated(names, turn):
            began = time.perf_counter()
            for image in picked:
                found[name][0](image[np.newaxis])
            single[name].append((time.perf_counter() - began) * 1000 / len(picked))
    probabilities = {name: np.concatenate(outputs[name]) for name in names}
    median = {name: statistics.median(batched[name]) for name in names}
    return probabilities, median, {name: statistics.median(single[name]) for name in names}


def _rotated(names: list[str], turn: int) -> list[str]:
    shift = turn % len(names)
    return names[shift:] + names[:shift]


def table(found, probabilities, labels, batched, single) -> str:  # noqa: ANN001
    """The markdown table: agreement with the SavedModel (what deepnets-export serves) and the
    probability difference from the float32 Keras model (what the files were converted from)."""
    served = probabilities.get(SAVED_MODEL, next(iter(probabilities.values())))
    reference = probabilities.get(FLOAT32, served)
    against = FLOAT32 if FLOAT32 in probabilities else SAVED_MODEL
    lines = [
        f"| runtime, file | top-1 | top-1 agreement with the SavedModel | with {against} | max. "
        f"probability difference from {against} | ms/image, batch 1 | ms/image, batch "
        f"{FLAGS.batch_size} | size |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, output in probabilities.items():
        top1 = output.argmax(1)
        lines.append(
            f"| {name} | {(top1 == labels).mean():.2%} | {(top1 == served.argmax(1)).mean():.2%} "
            f"| {(top1 == reference.argmax(1)).mean():.2%} | "
            f"{np.abs(output - reference).max():.1e} | {single[name]:.2f} | "
            f"{batched[name]:.3f} | {found[name][1] / 2**20:.2f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}")
    with cli_errors(PROGRAM, "--export_dir"):
        with open(os.path.join(FLAGS.export_dir, "class_names.json")) as f:
            class_names = json.load(f)
        found = runners(FLAGS.export_dir)
    with cli_errors(PROGRAM, "--images"):
        images, labels = labelled_images(FLAGS.images, class_names)
    probabilities, batched, single = interleaved(found, images)
    print(f"{len(images)} images {images.shape[1:]}, {FLAGS.threads} threads per runtime")
    print(table(found, probabilities, labels, batched, single), flush=True)


def run() -> None:
    """`python -m experiments.export_formats`."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
