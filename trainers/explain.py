"""Show where a trained model looked: each image with its Grad-CAM heat map and top classes.

deepnets-explain --model_dir=runs/fast --output_dir=explained cat.png dog.png
deepnets-explain --model_path=exported/model.keras --stage=C2 --output_dir=explained *.png

Writes `<image name>.png` per image and, for several images, `grid.png` with them all, into
--output_dir. Each picture is the image as the model saw it (the run's recorded preprocessing),
the heat map of its top-1 class over it (Grad-CAM, Selvaraju et al. 2017), and the top classes
with their probabilities in the title. --stage picks the feature stage differentiated (default:
the model's last, the coarsest); a name the model lacks (e.g. --stage=?) lists its stages.
"""

from __future__ import annotations

import os

from absl import flags

from trainers.cli import cli_errors, fail, quiet_tensorflow_logs, run_binary, skip_unused_imports

PROGRAM = "deepnets-explain"
quiet_tensorflow_logs(PROGRAM)  # before TensorFlow is imported
skip_unused_imports()  # JAX and pyplot, which TensorFlow imports and no binary uses

from trainers.model_source import load_predictor  # noqa: E402

flags.DEFINE_string("output_dir", None, "Folder for the pictures (created if missing).")
flags.DEFINE_string(
    "stage", None, "Feature stage to explain, e.g. C4 (default: the model's last stage)."
)
flags.DEFINE_integer("top_k", 3, "How many classes each picture's title lists.", lower_bound=1)
flags.DEFINE_integer(
    "columns", None, "Images per row of grid.png (default: about square, at most 8).", lower_bound=1
)
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    paths = argv[1:]
    if not paths:
        fail(PROGRAM, "give the images to explain: image files after the flags")
    if not FLAGS.output_dir:
        fail(PROGRAM, "--output_dir: give the folder to write the pictures to")
    for path in paths:
        if os.path.isdir(path):
            fail(PROGRAM, f"{path} is a folder: give image files (e.g. {path}/*.png)")
        if not os.path.isfile(path):
            fail(PROGRAM, f"cannot read {path}: no such file")
    predictor, description = load_predictor(PROGRAM)
    from deepnets.checks import ArgumentError
    from deepnets.training import write_explanations

    try:
        written = write_explanations(
            predictor,
            paths,
            FLAGS.output_dir,
            stage=FLAGS.stage,
            top_k=FLAGS.top_k,
            columns=FLAGS.columns,
        )
    except ArgumentError as err:  # a stage the model lacks, or a model without stages
        flag = f"--{err.name}" if err.name in ("stage", "top_k", "columns") else "the model"
        fail(PROGRAM, err.describe(flag))
    except ValueError as err:  # an image file that does not decode
        fail(PROGRAM, str(err))
    except OSError as err:
        with cli_errors(PROGRAM, "--output_dir"):
            raise err
    print(f"Explained {len(paths)} images with {description}; wrote:", flush=True)
    for path in written:
        print(path, flush=True)


def run() -> None:
    """Console-script entry point (deepnets-explain)."""
    run_binary(main, __name__, "trainers.model_source")


if __name__ == "__main__":
    run()
