"""TrainConfig: defaults are valid, and every bad value is rejected naming field and value."""

import dataclasses

import pytest

from deepnets.training import ConfigError, TrainConfig


def test_defaults_validate_and_round_trip_through_json():
    cfg = TrainConfig().validate()
    assert cfg.model == "resnet18" and cfg.dataset == "shapes10"
    assert cfg.resolved_weight_decay_mode == "l2"
    again = TrainConfig.from_dict(__import__("json").loads(cfg.to_json()))
    assert again == cfg


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("optimizer", "rmsprop", "'sgd', 'adam', 'adamw'"),
        ("schedule", "onecycle", "'constant', 'step', 'cosine', 'linear'"),
        ("strategy", "parameter_server", "'one_device', 'mirrored'"),
        ("mixed_precision", "float16", "'mixed_float16', 'mixed_bfloat16'"),
        ("jit_compile", "yes", "'auto', True, False"),
        ("weight_decay_mode", "l1", "'l2', 'decoupled'"),
        ("flip", "sideways", "'random', 'alternate'"),
        ("eval_translate", -1, "non-negative integer"),
        ("global_batch_size", 0, "positive integer"),
        ("global_batch_size", 12.0, "positive integer"),
        ("learning_rate", -0.1, "> 0"),
        ("learning_rate", float("nan"), "> 0"),
        ("epochs", 0, "positive integer"),
        ("steps_per_loop", 0, "positive integer"),
        ("momentum", 1.0, "[0, 1)"),
        ("label_smoothing", 1.0, "[0, 1)"),
        ("weight_decay", -1e-4, "[0, inf]"),
        ("decay_epochs", (60, 30), "strictly increasing"),
        ("decay_factor", 0.0, "(0, 1]"),
        ("cpu_replicas", 0, "positive integer"),
        ("keep_checkpoints", 0, "positive integer"),
        ("checkpoint_every_steps", -5, "None or a positive integer"),
        ("eval_every_steps", -1, "non-negative integer"),
        ("deterministic", "yes", "True or False"),
        ("model", "", "non-empty string"),
        ("nesterov", 1, "True or False"),
        ("epochs", True, "None or a positive integer"),
        ("model_overrides", "stem=cifar", "a dict of model builder keyword arguments"),
    ],
)
def test_bad_value_names_field_value_and_allowed(field, value, allowed):
    cfg = dataclasses.replace(TrainConfig(), **{field: value})
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    # The binaries map the error to the flag from these attributes, not from the text.
    assert info.value.name == field and info.value.value is value
    assert allowed in info.value.allowed
    message = str(info.value)
    assert f"TrainConfig.{field}=" in message
    assert repr(value) in message
    assert allowed in message


def test_exactly_one_of_epochs_train_steps_and_time_budget():
    one_of = r"exactly one of `epochs`, `train_steps` and `time_budget_minutes`"
    with pytest.raises(ValueError, match=one_of + r".*epochs=5"):
        TrainConfig(epochs=5, train_steps=100).validate()
    with pytest.raises(ValueError, match=r"epochs=None, train_steps=None"):
        TrainConfig(epochs=None, train_steps=None).validate()
    assert TrainConfig(epochs=None, train_steps=100).validate().train_steps == 100
    with pytest.raises(ValueError, match=one_of + r".*time_budget_minutes=20"):
        TrainConfig(train_steps=100, epochs=None, time_budget_minutes=20).validate()
    budget = TrainConfig(epochs=None, time_budget_minutes=20).validate()
    assert budget.time_budget_minutes == 20


def test_cross_field_rules():
    with pytest.raises(ConfigError, match=r"TrainConfig\.seed=None.*deterministic=True"):
        TrainConfig(deterministic=True, seed=None).validate()
    with pytest.raises(ValueError, match=r"TrainConfig\.nesterov=True.*optimizer='sgd'"):
        TrainConfig(optimizer="adam", nesterov=True).validate()
    with pytest.raises(ValueError, match=r"TrainConfig\.weight_decay_mode='l2'.*adamw"):
        TrainConfig(optimizer="adamw", weight_decay_mode="l2").validate()
    with pytest.raises(ValueError, match=r"TrainConfig\.tpu=None"):
        TrainConfig(strategy="tpu").validate()
    assert TrainConfig(optimizer="adamw").resolved_weight_decay_mode == "decoupled"


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['batch_size'\]"):
        TrainConfig.from_dict({"batch_size": 64})


def test_every_field_has_help_and_the_enumerations_list_their_choices():
    helps = TrainConfig.field_help()
    assert set(helps) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(len(text) > 10 for text in helps.values()), helps
    checks = {f.name: f.metadata["check"] for f in dataclasses.fields(TrainConfig)}
    assert checks["optimizer"].choices == ("sgd", "adam", "adamw", "nadam", "lion", "lamb", "muon")
    assert checks["jit_compile"].choices == ("auto", True, False)
