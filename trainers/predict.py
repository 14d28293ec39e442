"""Classify images with a trained model: the top-k class names and probabilities of each image.

deepnets-predict --model_dir=runs/pets photo.jpg more_photos/
deepnets-predict --model_path=exported/model.keras --top_k=3 --output_format=json photo.jpg

A thin wrapper around `deepnets.predict` (the same from Python). Images go through the run's
recorded preprocessing, exactly as evaluation does; no training data is needed. A folder is
searched for image files (JPEG, PNG, BMP, GIF) recursively. A path that does not exist or a file
that is not a readable image gets one line on stderr, the others are still classified, and the
exit status is then 1.
"""

from __future__ import annotations

import csv
import io
import json
import sys

from absl import flags

from trainers.cli import fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "deepnets-predict"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

from trainers.model_source import load_classifier  # noqa: E402

FORMATS = ("table", "csv", "json")
flags.DEFINE_integer("top_k", 5, "How many classes to show per image.", lower_bound=1)
flags.DEFINE_enum("output_format", "table", list(FORMATS), "table, csv or json.")
flags.DEFINE_integer("batch_size", 64, "Images per forward pass.", lower_bound=1)
FLAGS = flags.FLAGS


def render(predictions: list, output_format: str) -> str:
    """The predictions (`deepnets.inference.Prediction`s of readable images) as a table, CSV
    (image, rank, class, probability) or JSON."""
    if output_format == "json":
        records = [
            {
                "image": p.image,
                "predictions": [
                    {"class": name, "index": index, "probability": round(probability, 6)}
                    for name, index, probability in zip(
                        p.classes, p.indices, p.probabilities, strict=True
                    )
                ],
            }
            for p in predictions
        ]
        return json.dumps(records, indent=2) + "\n"
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image", "rank", "class", "probability"])
        for p in predictions:
            for rank, (name, probability) in enumerate(
                zip(p.classes, p.probabilities, strict=True), 1
            ):
                writer.writerow([p.image, rank, name, f"{probability:.6f}"])
        return buffer.getvalue()
    k = max((len(p.classes) for p in predictions), default=0)
    rows = [["image"] + [f"top-{r}" for r in range(1, k + 1)]]
    rows += [
        [p.image]
        + [f"{name} {100 * q:.1f}%" for name, q in zip(p.classes, p.probabilities, strict=True)]
        for p in predictions
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
    classifier = load_classifier(PROGRAM)
    from deepnets.inference import predict

    predictions = predict(classifier, argv[1:], FLAGS.top_k, batch_size=FLAGS.batch_size)
    classified = [p for p in predictions if p.error is None]
    problems = [p for p in predictions if p.error is not None]
    for problem in problems:
        print(
            f"{PROGRAM}: cannot read {problem.image}: {problem.error}", file=sys.stderr, flush=True
        )
    sys.stdout.write(render(classified, FLAGS.output_format))
    sys.stdout.flush()
    if problems or not classified:
        sys.exit(1)


def run() -> None:
    """Console-script entry point (deepnets-predict)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
