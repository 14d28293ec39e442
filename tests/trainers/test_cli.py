"""The absl binaries: bad flags give one line naming the flag; a short run works end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _run(module, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--model=resnet51"], "--model: Unknown model name 'resnet51'"),
        (["--global_batch_size=-8"], "--global_batch_size=-8 is invalid: expected a positive"),
        (["--schedule=linear"], "--schedule='linear' is invalid: expected one of 'constant'"),
        (["--optimizer=lamb"], "--optimizer='lamb' is invalid"),
        (["--model_overrides=stem=tiny"], "--model_overrides: `stem` must be one of"),
        (["--model_overrides=colour=red"], "--model_overrides: resnet18 has no argument `colour`"),
        (["--model_overrides=stem"], "--model_overrides: 'stem' is not KEY=VALUE"),
        (["--decay_epochs=10,x"], "--decay_epochs='10,x' is invalid: expected comma-separated"),
        (
            ["--cpu_replicas=2", "--strategy=mirrored", "--global_batch_size=33"],
            "--global_batch_size: 33 is not divisible by the 2 replicas",
        ),
        (
            ["--dataset=cifar10", "--nodownload", "--data_dir={tmp}"],
            "--dataset: .*cifar10.*",
        ),
    ],
)
def test_bad_flag_exits_2_with_one_line_naming_the_flag(args, pattern, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args]
    result = _run("trainers.train", f"--model_dir={tmp_path / 'run'}", "--train_steps=1", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("deepnets-train:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert __import__("re").search(pattern, errors[0]), errors[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unparsable_flag_value_is_reported_by_absl_without_traceback(tmp_path):
    result = _run("trainers.train", "--global_batch_size=many", f"--model_dir={tmp_path}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "--global_batch_size" in result.stderr


def test_short_run_then_evaluate_and_export(tmp_path):
    run_dir = tmp_path / "run"
    train = _run(
        "trainers.train",
        "--model=resnet18",
        "--model_overrides=stem=cifar,width=4",
        "--dataset=shapes10",
        "--train_steps=6",
        "--steps_per_loop=3",
        "--global_batch_size=32",
        "--eval_batch_size=500",
        f"--model_dir={run_dir}",
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert "Final step 6" in train.stdout
    for name in ("final.keras", "saved_model", "metrics.csv", "curves.png", "run.json"):
        assert (run_dir / name).exists(), name

    evaluate = _run("trainers.evaluate", f"--model_dir={run_dir}", "--batch_size=500")
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    metrics = json.loads(evaluate.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert metrics["examples"] == 2000
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0

    out = tmp_path / "exported"
    export = _run("trainers.export", f"--model_dir={run_dir}", f"--output_dir={out}", "--softmax")
    assert export.returncode == 0, export.stderr[-3000:]
    check = (
        "import numpy as np, tensorflow as tf, deepnets\n"
        f"m = tf.keras.models.load_model({str(out / 'model.keras')!r})\n"
        f"s = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype('float32')\n"
        "a, b = m(x).numpy(), s.serve(x).numpy()\n"
        "print(float(np.abs(a - b).max()), float(np.abs(a.sum(1) - 1).max()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    diff, softmax_error = map(float, result.stdout.split())
    assert diff < 1e-5 and softmax_error < 1e-5  # same outputs, and probabilities


def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = _run("trainers.evaluate", f"--model_dir={tmp_path}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--model_dir: " in result.stderr and "run.json does not exist" in result.stderr


def test_flagfiles_parse_into_valid_configs():
    from absl import flags

    from trainers.flag_config import config_from_flags, define_train_flags

    folder = os.path.join(os.path.dirname(__file__), "..", "..", "trainers", "flagfiles")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".cfg"))
    assert len(names) >= 3
    for name in names:
        values = flags.FlagValues()
        define_train_flags(values)
        values(["prog", f"--flagfile={os.path.join(folder, name)}"])
        cfg = config_from_flags(values).validate()
        assert cfg.dataset == "cifar100" and cfg.epochs == 200 and cfg.global_batch_size == 128
        assert cfg.learning_rate == 0.1 and cfg.weight_decay == 5e-4
        assert cfg.model_overrides in ({"stem": "cifar"}, {"head": "cifar"})


def test_flags_come_from_the_config_fields_with_their_types_and_help():
    import dataclasses

    from absl import flags

    from deepnets.training import TrainConfig
    from trainers.flag_config import define_train_flags

    values = flags.FlagValues()
    define_train_flags(values)
    for field in dataclasses.fields(TrainConfig):
        assert field.metadata["help"] in values[field.name].help, field.name
    assert values["epochs"].parser.flag_type() == "int"
    assert values["learning_rate"].parser.flag_type() == "float"
    assert values["nesterov"].boolean and values["download"].boolean
    assert values["decay_epochs"].value == ["30.0", "60.0", "80.0"]
    for choice in ("sgd", "adam", "adamw"):
        assert choice in values["optimizer"].help


def test_evaluate_and_export_share_the_model_source_flags():
    # Both binaries in one process: the flags they share are defined once, in one module.
    check = (
        "from trainers import evaluate, export, model_source\n"
        "owner = model_source.FLAGS.find_module_defining_flag\n"
        "print([owner(n) for n in ('model_dir', 'checkpoint', 'model_path')])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == str(["trainers.model_source"] * 3)


def test_model_overrides_parse_python_literals():
    from trainers.flag_config import parse_overrides

    assert parse_overrides("stem=cifar,width=16,zero_init_residual=True,dropout=0.1") == {
        "stem": "cifar",
        "width": 16,
        "zero_init_residual": True,
        "dropout": 0.1,
    }
    assert parse_overrides("filters=(4,4,16),pooling=None") == {
        "filters": (4, 4, 16),
        "pooling": None,
    }
    assert np.isclose(parse_overrides("bn_epsilon=1e-5")["bn_epsilon"], 1e-5)
