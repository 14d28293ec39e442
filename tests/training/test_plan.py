"""plan_run: a config resolved once; every problem a ConfigError that names its field."""

from unittest import mock

import pytest
import tensorflow as tf

import deepnets.data.source
from deepnets.data import SHAPES10_CLASS_NAMES
from deepnets.training import ConfigError, TrainConfig, plan_run
from deepnets.training.run import plan as plan_module

ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")


def config(**fields):
    return TrainConfig(**{"model_overrides": {"stem": "cifar", "width": 8}, **fields})


def test_plan_resolves_dataset_model_and_schedule_reading_the_metadata_once():
    with (
        mock.patch.object(plan_module, "open_dataset", wraps=plan_module.open_dataset) as opened,
        mock.patch.object(
            deepnets.data.source, "ShapesData", wraps=deepnets.data.source.ShapesData
        ) as reader,
    ):
        plan = plan_run(config(epochs=3, global_batch_size=100), ONE_DEVICE)
    assert opened.call_count == reader.call_count == 1  # the dataset is found once
    assert plan.dataset is plan.source.facts
    assert plan.dataset.num_classes == 10 and plan.dataset.class_names == SHAPES10_CLASS_NAMES
    assert (plan.dataset.train_examples, plan.dataset.eval_examples) == (10_000, 2_000)
    assert plan.dataset.input_shape == (32, 32, 3)
    assert plan.model.name == "resnet18"
    assert plan.model.arguments == {
        "stem": "cifar",
        "width": 8,
        "num_classes": 10,
        "input_shape": (32, 32, 3),
        "classifier_activation": None,
    }
    assert plan.loop.steps_per_epoch == 100 and plan.loop.total_steps == 300
    assert plan.jit_compile is False and plan.chief


def test_image_size_sets_the_input_shape_and_the_preprocessing():
    plan = plan_run(config(image_size=40), ONE_DEVICE)
    assert plan.dataset.input_shape == (40, 40, 3) == plan.model.arguments["input_shape"]
    assert plan.dataset.preprocessing.image_size == (40, 40)


@pytest.mark.parametrize(
    "fields, field, pattern",
    [
        (dict(model="resnet51"), "model", r"Unknown model name 'resnet51'.*resnet50"),
        (dict(model_overrides={"colour": "red"}), "model_overrides", r"no argument `colour`"),
        (dict(model_overrides={"widht": 8}), "model_overrides", r"Did you mean `width`\?"),
        (dict(model="resnet50", model_overrides={"depth": 18}), "model_overrides", r"fixes"),
        (dict(model_overrides={"num_classes": 100}), "model_overrides", r"set by the run"),
        (dict(global_batch_size=20_000), "global_batch_size", r"larger than the 10000"),
        (dict(dataset="no_such_dataset_xyz"), "dataset", r"not available"),
        (dict(schedule="onecycle"), "schedule", r"one of 'constant'"),
    ],
)
def test_every_problem_names_its_field(fields, field, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        plan_run(config(**fields), ONE_DEVICE)
    assert info.value.name == field


def test_batch_not_divisible_by_the_replicas_names_the_batch():
    three_replicas = mock.Mock(num_replicas_in_sync=3)
    with pytest.raises(ConfigError, match=r"not divisible by the 3 replicas") as info:
        plan_run(config(global_batch_size=64), three_replicas)
    assert info.value.name == "global_batch_size"


def test_bad_override_values_are_refused_when_the_model_is_built():
    plan = plan_run(config(model_overrides={"stem": "tiny"}), ONE_DEVICE)
    with pytest.raises(ConfigError, match=r"`stem` must be one of") as info:
        plan.model.build()
    assert info.value.name == "model_overrides"
