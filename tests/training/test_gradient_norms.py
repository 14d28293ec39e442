"""Gradient norms by depth: recorded right, written to CSV/TensorBoard/PNG, absent when off."""

import glob
import os

import numpy as np
import tensorflow as tf

import deepnets
from deepnets.training import (
    LoopSettings,
    StepRunner,
    StepSettings,
    TrainConfig,
    make_optimizer,
    run_loop,
)
from deepnets.training.loop.parts.gradient_norms import GradientNorms, variable_groups
from deepnets.training.reports.gradient_report import gradient_norms_figure, read_gradient_norms

IMAGES = np.random.default_rng(0).normal(size=(64, 16, 16, 3)).astype("float32")
LABELS = np.random.default_rng(1).integers(0, 4, 64)


def build():
    tf.keras.utils.set_random_seed(5)
    return deepnets.build_model(
        "resnet18",
        num_classes=4,
        input_shape=(16, 16, 3),
        stem="cifar",
        width=4,
        classifier_activation=None,
    )


def runner(log):
    def input_fn(ctx, epoch):
        return tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).repeat().batch(16)

    return StepRunner(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        build,
        lambda variables: make_optimizer(TrainConfig(), 0.05, variables),
        input_fn,
        StepSettings(steps_per_epoch=4, global_batch_size=16, num_classes=4),
        parts=[GradientNorms()] if log else [],
    )


def test_recorded_norms_are_the_gradient_norms_of_each_layer():
    logged = runner(True)
    model = build()  # the same initial weights
    with tf.GradientTape() as tape:
        logits = model(IMAGES[:16], training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(LABELS[:16], logits))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = {
        name: float(tf.linalg.global_norm([grads[i] for i in indices]))
        for name, indices in variable_groups(model)
    }
    norms = logged.train(0, 1)["gradient_norms"]
    assert list(norms) == [
        "conv1",
        *[f"conv{s}_block{b}" for s in (2, 3, 4, 5) for b in (1, 2)],
        "classifier",
    ]
    np.testing.assert_allclose(list(norms.values()), list(expected.values()), rtol=1e-4)
    assert all(n > 0 for n in norms.values())


def test_the_loop_writes_csv_tensorboard_and_picture(tmp_path):
    result = run_loop(
        runner(True),
        LoopSettings(total_steps=12, steps_per_epoch=4, steps_per_loop=2),
        model_dir=str(tmp_path),
    )
    rows = read_gradient_norms(str(tmp_path / "gradient_norms.csv"))
    assert sorted({int(r["step"]) for r in rows}) == list(range(2, 13, 2))  # once per loop
    assert len(rows) == 6 * 10 and {r["depth"] for r in rows} == {str(d) for d in range(10)}
    assert all(np.isfinite(float(r["norm"])) and float(r["norm"]) > 0 for r in rows)
    picture = tf.io.decode_png(tf.io.read_file(str(tmp_path / "gradient_norms.png")))
    assert picture.shape[0] > 300 and picture.shape[1] > 500
    tags = set()
    for path in glob.glob(str(tmp_path / "tensorboard" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags |= {value.tag for value in event.summary.value}
    assert "gradients/conv3_block1" in tags and "gradients/classifier" in tags
    assert result.final_step == 12


def test_off_the_step_computes_no_norm_and_writes_nothing(tmp_path):
    plain = runner(False)
    run_loop(
        plain,
        LoopSettings(total_steps=4, steps_per_epoch=4, steps_per_loop=2),
        model_dir=str(tmp_path),
    )
    assert plain.part(GradientNorms) is None and not plain.loop_reports
    assert not os.path.exists(tmp_path / "gradient_norms.csv")
    assert "gradient_norms" not in graph_node_names(plain)
    logged = runner(True)
    logged.train(0, 2)
    assert "gradient_norms" in graph_node_names(logged)


def graph_node_names(step_runner):
    """Every node name of the traced training loop, its nested functions included."""
    names = []
    for function in step_runner._train_loop._list_all_concrete_functions():
        graph_def = function.graph.as_graph_def()
        names += [node.name for node in graph_def.node]
        for library_function in graph_def.library.function:
            names += [node.name for node in library_function.node_def]
    return " ".join(names)


def test_picture_puts_two_runs_side_by_side_on_one_norm_axis():
    def rows(scale):
        return [
            {
                "step": str(s),
                "epoch": str(s / 10),
                "layer": f"l{d}",
                "depth": str(d),
                "norm": str(scale * (d + 1) / s),
            }
            for s in (10, 20, 30, 40, 50)
            for d in range(6)
        ]

    figure = gradient_norms_figure([("plain", rows(1.0)), ("resnet", rows(0.01))], moments=3)
    left, right = figure.axes[:2]
    assert (left.get_title(), right.get_title()) == ("plain", "resnet")
    assert left.get_yscale() == "log" and left.get_ylim() == right.get_ylim()
    assert [line.get_label() for line in left.lines] == [
        "step 10 (epoch 1.0)",
        "step 30 (epoch 3.0)",
        "step 50 (epoch 5.0)",
    ]
    np.testing.assert_allclose(right.lines[0].get_ydata(), [0.01 * (d + 1) / 10 for d in range(6)])
