"""Classify images with a trained model: the top-k class names and probabilities of each image.

deepnets-predict --model_dir=runs/pets photo.jpg more_photos/
deepnets-predict --model_path=exported/model.keras --top_k=3 --output_format=json photo.jpg

Images go through the run's recorded preprocessing, exactly as evaluation does; no training data
is needed. A folder is searched for image files (JPEG, PNG, BMP, GIF) recursively. A path that
does not exist or a file that is not a readable image gets one line on stderr, the others are
still classified, and the exit status is then 1.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary

PROGRAM = "deepnets-predict"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported

from trainers.model_source import load_predictor  # noqa: E402

FORMATS = ("table", "csv", "json")
flags.DEFINE_integer("top_k", 5, "How many classes to show per image.", lower_bound=1)
flags.DEFINE_enum("output_format", "table", list(FORMATS), "table, csv or json.")
flags.DEFINE_integer("batch_size", 64, "Images per forward pass.", lower_bound=1)
FLAGS = flags.FLAGS


def image_files(paths: list[str]) -> list[str]:
    """The image files the arguments name, in order: files (and paths that do not exist) as
    given, folders searched (sorted, hidden files and folders skipped)."""
    from deepnets.data.images import has_image_extension

    found = []
    for path in paths:
        if os.path.isdir(path):
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                found += [
                    os.path.join(folder, name)
                    for name in sorted(names)
                    if not name.startswith(".") and has_image_extension(name)
                ]
        else:
            found.append(path)
    return found


def model_inputs(predictor, files: list[str], problems: list[str]) -> tuple[list[str], list]:
    """Each readable file's model input (the run's preprocessing); the others to problems."""
    import tensorflow as tf

    from deepnets.data.images import read_image

    kept, inputs = [], []
    for path in files:
        if not os.path.isfile(path):
            problems.append(f"cannot read {path}: no such file or folder")
            continue
        try:
            inputs.append(predictor.preprocessing(read_image(path)))
        except (tf.errors.OpError, OSError) as err:
            problems.append(f"cannot read {path}: {_reason(err)}")
            continue
        kept.append(path)
    return kept, inputs


def _reason(err: BaseException) -> str:
    # TF messages start with "{{function_node ...}}" and end with "[Op:...]": keep the middle.
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text.strip().splitlines()[0] if text.strip() else "")
    text = re.sub(r"\s*\[Op:\w+\].*$", "", text).strip()
    return text or type(err).__name__


def predictions(predictor, inputs: list, top_k: int, batch_size: int) -> list[list[tuple]]:
    """Per image, the `top_k` (class index, name, probability), most probable first."""
    import numpy as np
    import tensorflow as tf

    probabilities_of = tf.function(predictor.probabilities)
    results = []
    for start in range(0, len(inputs), batch_size):
        batch = tf.stack(inputs[start : start + batch_size])
        probabilities = probabilities_of(batch).numpy()
        for row in probabilities:
            order = np.argsort(-row, kind="stable")[:top_k]
            results.append([(int(i), predictor.class_names[i], float(row[i])) for i in order])
    return results


def render(files: list[str], results: list[list[tuple]], output_format: str) -> str:
    """The predictions as a table, CSV (image, rank, class, probability) or JSON."""
    if output_format == "json":
        records = [
            {
                "image": path,
                "predictions": [
                    {"class": name, "index": index, "probability": round(p, 6)}
                    for index, name, p in top
                ],
            }
            for path, top in zip(files, results, strict=True)
        ]
        return json.dumps(records, indent=2) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image", "rank", "class", "probability"])
        for path, top in zip(files, results, strict=True):
            for rank, (_, name, p) in enumerate(top, 1):
                writer.writerow([path, rank, name, f"{p:.6f}"])
        return buffer.getvalue()
    k = max((len(top) for top in results), default=0)
    rows = [["image"] + [f"top-{r}" for r in range(1, k + 1)]]
    rows += [
        [path] + [f"{name} {100 * p:.1f}%" for _, name, p in top]
        for path, top in zip(files, results, strict=True)
    ]
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(k + 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        fail(PROGRAM, "give the images to classify: files or folders after the flags")
    predictor, _ = load_predictor(PROGRAM)
    problems: list[str] = []
    files, inputs = model_inputs(predictor, image_files(argv[1:]), problems)
    for problem in problems:
        print(f"{PROGRAM}: {problem}", file=sys.stderr, flush=True)
    top_k = min(FLAGS.top_k, len(predictor.class_names))
    results = predictions(predictor, inputs, top_k, FLAGS.batch_size) if inputs else []
    sys.stdout.write(render(files, results, FLAGS.output_format))
    sys.stdout.flush()
    if problems or not files:
        sys.exit(1)


def run() -> None:
    """Console-script entry point (deepnets-predict)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
