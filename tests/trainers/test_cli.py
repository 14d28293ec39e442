"""The absl binaries: bad flags give one line naming the flag; a short run works end to end."""

import dataclasses
import importlib.util
import json
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest
from one_process import run_binaries

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _run(module, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


BAD_FLAGS = [
    # First: --cpu_replicas splits the CPU, which TensorFlow allows only before it runs an op,
    # and the other cases share its process (see `bad_flag_runs`).
    (
        ["--cpu_replicas=2", "--strategy=mirrored", "--global_batch_size=33"],
        "--global_batch_size: 33 is not divisible by the 2 replicas",
    ),
    (["--model=resnet51"], "--model: Unknown model name 'resnet51'"),
    (["--global_batch_size=-8"], "--global_batch_size=-8 is invalid: expected a positive"),
    (["--schedule=onecycle"], "--schedule='onecycle' is invalid: expected one of 'constant'"),
    (["--optimizer=rmsprop"], "--optimizer='rmsprop' is invalid: expected one of 'sgd'"),
    (["--model_overrides=stem=tiny"], "--model_overrides: `stem` must be one of"),
    (["--model_overrides=colour=red"], "--model_overrides: resnet18 has no argument `colour`"),
    (["--model_overrides=stem"], "--model_overrides: 'stem' is not KEY=VALUE"),
    (["--decay_epochs=10,x"], "--decay_epochs='10,x' is invalid: expected comma-separated"),
    (["--dataset=cifar10", "--nodownload", "--data_dir={tmp}"], "--dataset: .*cifar10.*"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
    """Each bad-flag command of BAD_FLAGS, and the unparsable value last, as deepnets-train
    answers them, all in one process (TensorFlow starts once, not eleven times): {case: (its
    folder, the CompletedProcess)}."""
    folders = [tmp_path_factory.mktemp("bad_flag") for _ in BAD_FLAGS]
    calls = [
        (
            "trainers.train",
            [f"--model_dir={folder / 'run'}", "--train_steps=1"]
            + [a.format(tmp=folder) for a in args],
        )
        for folder, (args, _) in zip(folders, BAD_FLAGS, strict=True)
    ]
    unparsable = tmp_path_factory.mktemp("unparsable")
    calls.append(("trainers.train", ["--global_batch_size=many", f"--model_dir={unparsable}"]))
    results = run_binaries(*calls)
    return list(zip(folders, results[:-1], strict=True)), results[-1]


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)), ids=[str(a) for a, _ in BAD_FLAGS])
def test_bad_flag_exits_2_with_one_line_naming_the_flag(case, bad_flag_runs):
    tmp_path, result = bad_flag_runs[0][case]
    pattern = BAD_FLAGS[case][1]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("deepnets-train:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert __import__("re").search(pattern, errors[0]), errors[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unparsable_flag_value_is_reported_by_absl_without_traceback(bad_flag_runs):
    result = bad_flag_runs[1]
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
        "--eval_flip",
        "--eval_translate=1",
        f"--model_dir={run_dir}",
    )
    assert train.returncode == 0, train.stderr[-3000:]
    kernels = f"set by the user: TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}"
    assert train.stdout.splitlines()[0].startswith("Kernels: oneDNN ")  # which ran, and why
    assert train.stdout.splitlines()[0].endswith(f"({kernels})")
    assert "Final step 6" in train.stdout
    for name in ("final.keras", "saved_model", "metrics.csv", "curves.png", "run.json"):
        assert (run_dir / name).exists(), name
    for name in ("per_class.csv", "confusion_matrix.csv", "confusion_matrix.png"):
        assert (run_dir / name).exists(), name  # of the final evaluation
    assert "per-class top-1 " in train.stdout

    # The evaluations and the export share one process (TensorFlow started once, not four
    # times); each still runs through its binary's flags and exit status.
    reports, out = tmp_path / "final_reports", tmp_path / "exported"
    evaluate, final, viewed, export = run_binaries(
        ("trainers.evaluate", [f"--model_dir={run_dir}", "--batch_size=500"]),
        # A model file writes its reports only where --report_dir says (a bare network: scored
        # without the run's test-time views; its weights are step 6's, checked below).
        (
            "trainers.evaluate",
            [f"--model_path={run_dir / 'final.keras'}", "--dataset=shapes10"]
            + ["--batch_size=500", f"--report_dir={reports}"],
        ),
        # With the run's views named on the command line, the bare network scores as the run
        # did.
        (
            "trainers.evaluate",
            [f"--model_path={run_dir / 'final.keras'}", "--dataset=shapes10"]
            + ["--batch_size=500", "--eval_flip", "--eval_translate=1"],
        ),
        ("trainers.export", [f"--model_dir={run_dir}", f"--output_dir={out}"]),
    )
    # TensorFlow's import in the binaries left out JAX and matplotlib, installed here (the test
    # extra has JAX) and unused by them until they draw.
    assert importlib.util.find_spec("jax") and importlib.util.find_spec("matplotlib.pyplot")
    # matplotlib itself came with the first picture (the first evaluation's confusion matrix).
    assert [r.unused_imports for r in (evaluate, final, viewed, export)] == [["matplotlib"]] * 4
    assert evaluate.loaded_figures
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    metrics = json.loads(evaluate.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert metrics["examples"] == 2000
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
    _check_per_class_reports(run_dir / "evaluation" / "ckpt-6", metrics, evaluate.stdout)

    assert final.returncode == 0, final.stderr[-3000:]
    plain = json.loads(final.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert plain["examples"] == 2000 and plain["loss"] != pytest.approx(metrics["loss"])
    _check_per_class_reports(reports, plain, final.stdout)
    assert viewed.returncode == 0, viewed.stderr[-3000:]
    views = json.loads(viewed.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert views["loss"] == pytest.approx(metrics["loss"], abs=1e-5)
    assert views["top1"] == pytest.approx(metrics["top1"], abs=1e-6)

    assert export.returncode == 0, export.stderr[-3000:]
    import tensorflow as tf

    import deepnets  # noqa: F401  (its layers, for loading)

    m = tf.keras.models.load_model(out / "model.keras")
    s = tf.saved_model.load(str(out / "saved_model"))
    x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    a, b = m(x).numpy(), s.serve_images(x)["probabilities"].numpy()
    f = tf.keras.models.load_model(run_dir / "final.keras")
    p = m.preprocessing(x)
    assert float(np.abs(a - b).max()) < 1e-5  # the same outputs
    assert float(np.abs(a.sum(1) - 1).max()) < 1e-5  # and probabilities
    # final.keras holds the last checkpoint's weights
    assert float(np.abs(f(p) - m.classifier(p)).max()) < 1e-5
    assert (m.flip, m.translate) == (True, 1)  # scored with the run's test-time views
    # The exported model evaluates like the run it came from (its preprocessing and test-time
    # views travel along). Its own process: deepnets-export's required --output_dir would
    # refuse deepnets-evaluate's flags in the export's.
    (exported,) = run_binaries(
        ("trainers.evaluate", [f"--model_path={out / 'model.keras'}", "--dataset=shapes10"])
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    # It wrote no picture, so it loaded no drawing code, and no matplotlib at all.
    assert exported.unused_imports == [] and not exported.loaded_figures
    again = json.loads(exported.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert again["top1"] == pytest.approx(metrics["top1"], abs=1e-6)


def _check_per_class_reports(folder, metrics, stdout):
    """The reports deepnets-evaluate wrote: shapes10's names, every example counted once."""
    import csv

    from matplotlib.image import imread

    assert f"Wrote per-class accuracy and the confusion matrix to {folder}" in stdout
    assert "per-class top-1 " in stdout and "; worst: " in stdout
    with open(folder / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["name"] for row in rows][:3] == ["disk", "ring", "square"] and len(rows) == 10
    assert sum(int(row["examples"]) for row in rows) == 2000
    assert sum(int(row["correct"]) for row in rows) == round(metrics["top1"] * 2000)
    with open(folder / "confusion_matrix.csv", newline="") as f:
        matrix = np.array([row[1:] for row in list(csv.reader(f))[1:]], dtype=int)
    assert matrix.shape == (10, 10) and matrix.sum() == 2000
    assert imread(folder / "confusion_matrix.png").shape[1] > 500


def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = _run("trainers.evaluate", f"--model_dir={tmp_path}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--model_dir: " in result.stderr and "run.json does not exist" in result.stderr


def test_flagfiles_parse_into_valid_configs():
    from absl import flags

    from deepnets.models.registry import build_model
    from deepnets.training.config import TrainConfig
    from trainers.flag_config import config_from_flags, define_train_flags

    folder = os.path.join(os.path.dirname(__file__), "..", "..", "trainers", "flagfiles")
    configs = {}
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".cfg")):
        values = flags.FlagValues()
        define_train_flags(values)
        values(["prog", f"--flagfile={os.path.join(folder, name)}"])
        configs[name] = config_from_flags(values).validate()
    cifar100 = [
        cfg
        for name, cfg in configs.items()
        if name.startswith("cifar100_") and not name.endswith(("_fast_cpu.cfg", "_20min.cfg"))
    ]
    assert len(cifar100) >= 3
    for cfg in cifar100:
        assert cfg.dataset == "cifar100" and cfg.epochs == 200 and cfg.global_batch_size == 128
        assert cfg.learning_rate == 0.1 and cfg.weight_decay == 5e-4
        assert cfg.model_overrides in ({"stem": "cifar"}, {"head": "cifar"})
    # The tutorial's models in 20 minutes: the dataset is the user's folder, the length the
    # budget's; without BatchNorm the rate is lower.
    budgeted = {n: c for n, c in configs.items() if n.endswith("_20min.cfg")}
    assert {c.model for c in budgeted.values()} == {"vgg16", "vgg16_bn", "resnet50"}
    for name, cfg in budgeted.items():
        assert cfg.time_budget_minutes == 20 and cfg.schedule == "cosine" and cfg.epochs is None
        assert cfg.learning_rate == (0.02 if cfg.model == "vgg16" else 0.1), name
    # He et al. 2016, section 4.2: lr / 10 at 32k and 48k iterations, 64k in all.
    paper = configs["cifar10_resnet56.cfg"]
    assert (paper.model, paper.dataset, paper.train_steps, paper.epochs) == (
        "resnet56",
        "cifar10",
        64_000,
        None,
    )
    assert (paper.learning_rate, paper.momentum, paper.weight_decay) == (0.1, 0.9, 1e-4)
    steps_per_epoch = 50_000 // paper.global_batch_size
    boundaries = [round(e * steps_per_epoch) for e in paper.decay_epochs]
    assert boundaries == [32_000, 48_000] and paper.decay_factor == 0.1
    # The CPU recipes leave the data and the run folder to the command line.
    fast, narrow = configs["cifar10_fast_cpu.cfg"], configs["cifar10_resnet18_cpu.cfg"]
    default = TrainConfig()
    for cfg in (fast, narrow):
        assert (cfg.dataset, cfg.model_dir) == (default.dataset, default.model_dir)
    assert (fast.model, fast.model_overrides, fast.crop_padding) == (
        "vgg_fast",
        {
            "stem_layer": "whiten",
            "logit_scale": 0.1111111,
            "kernel_initializer": "dirac",
            "bn_momentum": 0.6,
            "activation": "relu",
        },
        2,
    )
    assert fast.mixed_precision == "auto"  # bfloat16 where the CPU has bfloat16 units, else float32
    # Its length is the 20 minutes on whatever machine runs it.
    assert (fast.time_budget_minutes, fast.epochs, fast.train_steps) == (20.0, None, None)
    assert (fast.ema_decay, fast.eval_flip, fast.eval_translate) == (0.99, True, 1)
    assert (fast.lookahead_steps, fast.bn_scale_lr_multiplier, fast.bn_bias_lr_multiplier) == (
        5,
        0.0,
        16.0,
    )
    build_model(fast.model, input_shape=(32, 32, 3), **fast.model_overrides)  # the options exist
    # The CIFAR-100 recipe is the CIFAR-10 one with its logits scaled for 100 classes.
    fast100 = configs["cifar100_fast_cpu.cfg"]
    assert fast100.model_overrides == {**fast.model_overrides, "logit_scale": 0.2}
    assert dataclasses.replace(fast100, model_overrides=fast.model_overrides) == fast
    assert (narrow.model, narrow.model_overrides) == ("resnet18", {"stem": "cifar", "width": 16})


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
    for choice in ("sgd", "adam", "adamw", "nadam", "lion", "lamb", "muon"):
        assert choice in values["optimizer"].help


def test_stopping_flags_map_to_their_config_fields():
    from absl import flags

    from trainers.flag_config import config_from_flags, define_train_flags

    values = flags.FlagValues()
    define_train_flags(values)
    values(
        ["deepnets-train", "--keep_best=val_top1", "--export=best", "--early_stopping_patience=3"]
    )
    cfg = config_from_flags(values).validate()
    assert (cfg.keep_best, cfg.export, cfg.early_stopping_patience) == ("val_top1", "best", 3)


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


# A binary's last lines, as `end_process` ends them: an object that Python's teardown of the
# modules would delete ("torn down" printed) is not, save where a thread still runs.
END_PROCESS = """
import atexit, sys, threading, time
from trainers.cli import end_process

class Kept:
    def __del__(self):
        print(" torn down", end="", flush=True)

kept = Kept()
atexit.register(lambda: print(" exit handler ran", end="", flush=True))
print("unflushed output", end="")
code = sys.argv[1]
if code == "thread":  # a thread still working: the ordinary exit, which waits for it
    threading.Thread(target=lambda: (time.sleep(0.3), print(" thread done", end=""))).start()
    code = "none"
end_process(None if code == "none" else int(code) if code.isdigit() else code)
"""


@pytest.mark.parametrize(
    ("code", "status", "stdout", "stderr"),
    [
        ("none", 0, "unflushed output exit handler ran", ""),
        ("3", 3, "unflushed output exit handler ran", ""),
        ("a message", 1, "unflushed output exit handler ran", "a message\n"),
        ("thread", 0, "unflushed output thread done exit handler ran torn down", ""),
    ],
)
def test_a_binary_ends_its_process_as_sys_exit_would_less_the_teardown(
    code, status, stdout, stderr
):
    ended = subprocess.run(
        [sys.executable, "-c", END_PROCESS, code], capture_output=True, text=True, timeout=60
    )
    assert (ended.returncode, ended.stdout, ended.stderr) == (status, stdout, stderr)


def test_the_binaries_skip_only_the_unused_imports_of_the_files_named(tmp_path, monkeypatch):
    import trainers.cli

    (tmp_path / "unused_by_binaries.py").write_text("VALUE = 1\n")
    for folder in ("site/tensorflow/lite", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "importer.py").write_text(
            "try:\n    import unused_by_binaries\nexcept ImportError as err:\n"
            "    unused_by_binaries = err\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        trainers.cli, "UNUSED_IMPORTS", {"unused_by_binaries": ("tensorflow/lite/importer.py",)}
    )
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    trainers.cli.skip_unused_imports()
    trainers.cli.skip_unused_imports()  # once is enough
    assert sum(type(f).__name__ == "_SkipUnusedImports" for f in sys.meta_path) == 1
    monkeypatch.delitem(sys.modules, "unused_by_binaries", raising=False)

    named = runpy.run_path(str(tmp_path / "site/tensorflow/lite/importer.py"))
    assert isinstance(named["unused_by_binaries"], ModuleNotFoundError)
    assert "unused_by_binaries" not in sys.modules
    other = runpy.run_path(str(tmp_path / "elsewhere/importer.py"))
    assert other["unused_by_binaries"].VALUE == 1  # any other file imports it as usual
    monkeypatch.delitem(sys.modules, "unused_by_binaries")
