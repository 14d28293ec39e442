"""Per-class results: the Evaluator's exact confusion matrix, and the files made from it.

The model under test reads its prediction from the image: channel 1 of every pixel holds the
class it will predict, so a dataset fixes the whole confusion matrix in advance.
`python tests/training/test_per_class.py OUT_DIR` draws the pictures for 10 and 100 classes.
"""

import csv
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.image import imread
from run_scripts import finish, result_of, start_script

from deepnets.training import Evaluator
from deepnets.training.loop.evaluation import evaluate_split
from deepnets.training.reports.per_class import (
    DPI,
    confusion_figure,
    per_class_rows,
    per_class_summary,
    write_per_class_reports,
)

keras = tf.keras
NUM_CLASSES = 5
NAMES = ("disk", "ring", "horizontal_stripes", "vertical_stripes", "checkerboard")


def echo_model(num_classes: int = NUM_CLASSES) -> keras.Model:
    """Logits: one-hot of the class written in channel 1 of the image (times 5)."""
    inputs = keras.Input((2, 2, 3))
    outputs = keras.layers.Lambda(
        lambda x: 5.0 * tf.one_hot(tf.cast(tf.round(x[:, 0, 0, 1]), tf.int32), num_classes)
    )(inputs)
    return keras.Model(inputs, outputs)


def echo_examples(num_examples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, predictions): right 60% of the time, else a random class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    guesses = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int32)
    predictions = np.where(rng.random(num_examples) < 0.6, labels, guesses)
    images = np.zeros((num_examples, 2, 2, 3), np.float32)
    images[..., 0] = labels[:, None, None]
    images[..., 1] = predictions[:, None, None]
    return images, labels, predictions


def echo_eval_input_fn(global_batch_size: int, num_examples: int, seed: int = 0):
    """(image, label, weight) batches padded to whole global batches with weight 0.

    Padding is labelled 0 and predicts the last class, so counting it would change cell
    (0, C - 1) of the matrix.
    """
    images, labels, _ = echo_examples(num_examples, seed)
    pad = -num_examples % global_batch_size
    padding = np.zeros((pad, 2, 2, 3), np.float32)
    padding[..., 1] = NUM_CLASSES - 1
    images = np.concatenate([images, padding])
    labels = np.concatenate([labels, np.zeros(pad, np.int32)])
    weights = np.concatenate([np.ones(num_examples, np.float32), np.zeros(pad, np.float32)])

    def input_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = ctx.get_per_replica_batch_size(global_batch_size)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels, weights)).batch(per_replica)
        return dataset.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)

    return input_fn


def expected_confusion(num_examples: int, seed: int = 0) -> np.ndarray:
    _, labels, predictions = echo_examples(num_examples, seed)
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def evaluate_echo(strategy, global_batch_size: int, num_examples: int, seed: int = 0):
    """(metrics, confusion) of the echo model on the echo data under `strategy`."""
    evaluator = Evaluator(strategy, echo_model(), NUM_CLASSES)
    input_fn = echo_eval_input_fn(global_batch_size, num_examples, seed)
    metrics = evaluator.evaluate(strategy.distribute_datasets_from_function(input_fn))
    return metrics, evaluator.confusion_matrix()


# ------------------------------------------------------------------------- the Evaluator


def test_confusion_matrix_is_exact_and_padding_is_not_counted():
    # 100 examples in batches of 32: the last batch holds 4 examples and 28 of padding.
    metrics, confusion = evaluate_echo(tf.distribute.get_strategy(), 32, 100)
    want = expected_confusion(100)
    assert confusion.dtype == np.int64 and confusion.shape == (NUM_CLASSES, NUM_CLASSES)
    np.testing.assert_array_equal(confusion, want)
    _, labels, _ = echo_examples(100)
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=5))
    assert metrics["examples"] == 100
    assert np.trace(confusion) == round(metrics["top1"] * metrics["examples"])
    assert 0 < np.trace(confusion) < 100  # some right, some wrong: the check means something


def test_each_evaluation_starts_a_new_matrix():
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, echo_model(), NUM_CLASSES)
    with pytest.raises(RuntimeError, match="no evaluation"):
        evaluator.confusion_matrix()
    for seed in (1, 2):
        input_fn = echo_eval_input_fn(16, 50, seed)
        evaluator.evaluate(strategy.distribute_datasets_from_function(input_fn))
        np.testing.assert_array_equal(evaluator.confusion_matrix(), expected_confusion(50, seed))
    evaluator.confusion_matrix()[0, 0] = -1  # a copy: the caller cannot change the evaluator's
    assert evaluator.confusion_matrix()[0, 0] >= 0


def test_a_model_with_another_number_of_classes_is_refused():
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, echo_model(num_classes=7), NUM_CLASSES)
    dataset = strategy.distribute_datasets_from_function(echo_eval_input_fn(16, 20))
    with pytest.raises(ValueError, match="outputs 7 scores per example but the eval set has 5"):
        evaluator.evaluate(dataset)


def test_two_replicas_count_the_same_matrix():
    code, output = finish(start_script("confusion_two_replicas.py", {}))
    assert code == 0, output
    report = result_of(output)
    assert report["replicas"] == 2
    for case in report["cases"]:
        want = expected_confusion(case["examples"])
        np.testing.assert_array_equal(np.array(case["confusion"]), want, err_msg=str(case))
        assert case["metrics"]["examples"] == case["examples"]
        assert np.trace(want) == round(case["metrics"]["top1"] * case["examples"])


def test_evaluate_split_gives_the_matrix_and_the_dataset_class_names():
    from deepnets import data

    tf.keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 8, strides=8), keras.layers.Flatten()]
    )
    model.add(keras.layers.Dense(10))
    result = evaluate_split(model, "shapes10", global_batch_size=300)  # 2000 = 6 x 300 + 200
    _, info = data.load_split("shapes10", "test")
    assert result.class_names == info.class_names and result.class_names[5] == "horizontal_stripes"
    labels = np.concatenate([y.numpy() for _, y in data.make_eval_dataset("shapes10", 500)])
    np.testing.assert_array_equal(result.confusion.sum(axis=1), np.bincount(labels, minlength=10))
    assert np.trace(result.confusion) == round(result.metrics["top1"] * 2000)
    assert (result.confusion.sum(axis=0) > 0).sum() > 1  # an untrained model, yet not constant


def test_after_a_run_the_last_matrix_is_the_final_evaluation(tmp_path):
    """What `train` reads after `run_loop`: the matrix of the final weights, also when the run
    was resumed at its last step (the controller then evaluates once more)."""
    import training_toys as toys

    from deepnets.training import LoopSettings, run_loop

    settings = LoopSettings(total_steps=8, steps_per_epoch=8, steps_per_loop=4)
    matrices = []
    for attempt in ("fresh", "resumed at the end"):
        runner = toys.toy_runner()
        result = run_loop(runner, settings, model_dir=str(tmp_path))
        matrices.append(runner.evaluator.confusion_matrix())
        assert matrices[-1].sum() == result.eval_metrics["examples"] == 100, attempt
        assert np.trace(matrices[-1]) == round(result.eval_metrics["top1"] * 100), attempt
    np.testing.assert_array_equal(matrices[1], matrices[0])  # the same final weights


# ----------------------------------------------------------------------------- the files

HAND_MADE = np.array([[8, 2, 0], [1, 5, 4], [0, 0, 0]])  # class 2 has no examples


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_per_class_csv_and_confusion_csv_hold_the_counts(tmp_path):
    names = ("cat", "dog, large", "emu")  # a comma: the CSV must quote it
    paths = write_per_class_reports(str(tmp_path / "out"), HAND_MADE, names)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "per_class.csv",
    ]  # no temporary files left behind
    with open(paths["per_class_csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0] == {
        "class": "0",
        "name": "cat",
        "examples": "10",
        "correct": "8",
        "accuracy": "0.8",
        "confused_with": "dog, large",
        "confused_count": "2",
    }
    assert (rows[1]["accuracy"], rows[1]["confused_with"], rows[1]["confused_count"]) == (
        "0.5",
        "emu",
        "4",
    )
    assert (rows[2]["examples"], rows[2]["accuracy"], rows[2]["confused_with"]) == ("0", "", "")
    assert _read_csv(paths["confusion_csv"]) == [
        ["true_class", "cat", "dog, large", "emu"],
        ["cat", "8", "2", "0"],
        ["dog, large", "1", "5", "4"],
        ["emu", "0", "0", "0"],
    ]


def test_rows_and_summary_name_the_worst_classes():
    rows = per_class_rows(HAND_MADE)  # no names: the labels
    assert [row["name"] for row in rows] == ["0", "1", "2"]
    assert rows[0]["confused_with"] == "1" and rows[2]["confused_with"] is None
    summary = per_class_summary(HAND_MADE, ("cat", "dog", "emu"), worst=1)
    assert summary == "per-class top-1 50.0%..80.0%; worst: dog 50.0% (4 as emu)"
    perfect = per_class_summary(np.diag([3, 4]), ("a", "b"))
    assert perfect == "per-class top-1 100.0%..100.0%; worst: a 100.0%, b 100.0%"


@pytest.mark.parametrize(
    "confusion, names, message",
    [
        (np.zeros((2, 3)), None, r"square \[C, C\] matrix, got shape \(2, 3\)"),
        (np.eye(3), ("a", "b"), "got 2 class names for a 3x3 confusion matrix"),
        (-np.eye(2), None, "negative counts"),
    ],
)
def test_bad_input_is_refused_with_what_was_given(tmp_path, confusion, names, message):
    with pytest.raises(ValueError, match=message):
        write_per_class_reports(str(tmp_path), confusion, names)
    assert not os.listdir(tmp_path)


def test_png_decodes_at_the_figure_size_with_names_and_counts_for_few_classes(tmp_path):
    confusion = expected_confusion(400)
    figure = confusion_figure(confusion, NAMES)
    width, height = (figure.get_size_inches() * DPI).round().astype(int)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(NAMES)
    assert sorted(int(t.get_text()) for t in ax.texts) == sorted(confusion[confusion > 0])
    top1 = f"{100 * np.trace(confusion) / 400:.1f}%"
    assert figure.get_suptitle() == f"Confusion matrix: top-1 {top1}"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")

    path = write_per_class_reports(str(tmp_path), confusion, NAMES)["confusion_png"]
    image = imread(path)
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.1  # not a blank canvas


def test_many_classes_are_drawn_with_indices_and_no_counts():
    rng = np.random.default_rng(0)
    confusion = np.diag(rng.integers(50, 100, 100)) + rng.integers(0, 2, (100, 100))
    ax = confusion_figure(confusion, [f"class_{i}" for i in range(100)]).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(label.lstrip("−-").isdigit() for label in labels)
    assert not ax.texts


def _draw_examples(folder):
    """Writes the 10- and 100-class pictures of plausible evaluations into `folder`."""
    from deepnets.data.offline import SHAPES10_CLASS_NAMES

    rng = np.random.default_rng(0)
    for count, names in ((10, SHAPES10_CLASS_NAMES), (100, None)):
        confusion = rng.poisson(rng.gamma(0.3, 3.0, (count, count)) * (count / 100 + 0.2))
        confusion += np.diag(rng.integers(100, 200, count))
        print(write_per_class_reports(os.path.join(folder, f"classes{count}"), confusion, names))


if __name__ == "__main__":
    _draw_examples(sys.argv[1])
