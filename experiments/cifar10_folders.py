"""Lay out the shared CIFAR-10 training JPEGs as an image folder with a held-out test part.

    python -m experiments.cifar10_folders --tarball=../shared/data/cifar10-train-jpeg.tar.gz \
        --output_dir=/tmp/cifar10 [--train_per_class=1000]

The tarball holds `train/<class>/0000.jpg ... 4999.jpg` (the real CIFAR-10 training split). This
writes `OUTPUT/train/<class>/` (the first images of each class) and `OUTPUT/test/<class>/` (the
last `--holdout_per_class` of each class, 500 by default: 5,000 in all), as `deepnets-train
--dataset=OUTPUT` reads them (extracted to a temporary folder beside OUTPUT, then moved).
Nothing is ever tuned on the held-out part but the final measurement.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from absl import flags

from trainers.cli import fail, run_binary

PROGRAM = "cifar10-folders"
flags.DEFINE_string("tarball", None, "The cifar10-train-jpeg.tar.gz of the shared data.")
flags.DEFINE_string("output_dir", None, "Where train/ and test/ go (created).")
flags.DEFINE_integer("holdout_per_class", 500, "Images per class held out as test/ (the last).")
flags.DEFINE_integer(
    "train_per_class", None, "Images per class kept in train/ (the first; default: all the rest)."
)
FLAGS = flags.FLAGS


def prepare(
    tarball: str, output_dir: str, holdout_per_class: int = 500, train_per_class: int | None = None
) -> str:
    """Writes `output_dir/{train,test}/<class>/*.jpg` from the shared tarball.

    Args:
        tarball: path of cifar10-train-jpeg.tar.gz.
        output_dir: the folder to fill (its train/ and test/ are replaced).
        holdout_per_class: the last this many images of each class go to test/.
        train_per_class: the first this many of the rest go to train/ (None: all of them).

    Returns:
        `output_dir`.
    """
    extracted = tempfile.mkdtemp(prefix="cifar10_jpeg_", dir=os.path.dirname(output_dir) or ".")
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(extracted, filter="data")
        source = os.path.join(extracted, "train")
        for split in ("train", "test"):
            shutil.rmtree(os.path.join(output_dir, split), ignore_errors=True)
        for name in sorted(os.listdir(source)):
            files = sorted(f for f in os.listdir(os.path.join(source, name)) if f.endswith(".jpg"))
            held_out = files[len(files) - holdout_per_class :]
            kept = files[: len(files) - holdout_per_class][:train_per_class]
            for split, chosen in (("train", kept), ("test", held_out)):
                folder = os.path.join(output_dir, split, name)
                os.makedirs(folder, exist_ok=True)
                for file in chosen:
                    os.replace(os.path.join(source, name, file), os.path.join(folder, file))
    finally:
        shutil.rmtree(extracted, ignore_errors=True)
    return output_dir


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        fail(PROGRAM, f"unexpected positional arguments {argv[1:]}; use --flag=value")
    if not FLAGS.tarball or not os.path.exists(FLAGS.tarball):
        fail(PROGRAM, f"--tarball={FLAGS.tarball!r}: no such file")
    if not FLAGS.output_dir:
        fail(PROGRAM, "--output_dir: give the folder to write")
    path = prepare(FLAGS.tarball, FLAGS.output_dir, FLAGS.holdout_per_class, FLAGS.train_per_class)
    counts = {
        split: sum(len(files) for _, _, files in os.walk(os.path.join(path, split)))
        for split in ("train", "test")
    }
    print(f"Wrote {path}: {counts['train']} train and {counts['test']} test images.", flush=True)


def run() -> None:
    """Entry point (python -m experiments.cifar10_folders)."""
    run_binary(main, __name__)


if __name__ == "__main__":
    run()
