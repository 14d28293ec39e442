"""Fine-tuning: ImageNet weight files, deepnets runs as starting points, a frozen backbone."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tiny_tfds

import deepnets
from deepnets.models import imagenet_weights
from deepnets.models.imagenet_weights import IMAGENET_WEIGHTS, WeightsFile
from deepnets.training import (
    ConfigError,
    StepRunner,
    StepSettings,
    TrainConfig,
    make_optimizer,
    plan_run,
    train,
)
from deepnets.training.loop.parts import BackboneOptimizer, FrozenBackbone
from deepnets.training.optimization.backbone import ScaledSchedule
from deepnets.training.run.model_setup import new_model
from deepnets.training.run_folder.initial_weights import initialize_weights
from trainers.cli import error_message

keras = tf.keras


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    return tiny_tfds.prepare(str(data_dir)), str(data_dir)


@pytest.fixture(scope="module")
def vgg16_imagenet_file(tmp_path_factory):
    """A keras.applications VGG16 weights file (random weights: no network here), no top."""
    keras.utils.set_random_seed(0)  # the same weights every run
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_notop.h5"
    reference.save(path)
    return str(path), {layer.name: layer.get_weights() for layer in reference.layers}


def vgg_config(tiny_data, model_dir, weights, **fields):
    name, data_dir = tiny_data
    return TrainConfig(
        model="vgg16",
        model_overrides={"head": "cifar"},
        dataset=name,
        data_dir=data_dir,
        download=False,
        image_size=32,
        init_weights=weights,
        model_dir=str(model_dir),
        global_batch_size=16,
        # VGG16 has no BatchNorm and sees caffe-normalized inputs (about +-128): at the default
        # 0.1, random weights diverged to a NaN loss in some runs.
        learning_rate=0.01,
        steps_per_loop=3,
        export_saved_model=False,
        **fields,
    )


def conv_weights(model):
    return {
        f"{block.name}_conv{i + 1}": conv.get_weights()
        for block in model.blocks
        for i, conv in enumerate(block.convs)
    }


def test_imagenet_file_then_frozen_backbone_then_all_of_it(
    tiny_data, vgg16_imagenet_file, tmp_path
):
    path, reference = vgg16_imagenet_file
    cfg = vgg_config(tiny_data, tmp_path, path, epochs=1, freeze_backbone_epochs=1)
    plan = plan_run(cfg)
    assert plan.dataset.preprocessing.normalization == "caffe"  # what those weights expect
    assert plan.loop.phase_steps == (6,)  # 96 images / 16 per step: the first epoch is frozen
    result = train(plan)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["dataset"]["preprocessing"]["normalization"] == "caffe"
    frozen = keras.models.load_model(result.final_model_path)
    for name, weights in conv_weights(frozen).items():
        for got, want in zip(weights, reference[name], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)  # untouched while frozen
    head = frozen.get_layer("classifier").predictions.get_weights()[0]
    assert head.shape == (512, 3)

    # Resumed with one more epoch (a VGG16 epoch and checkpoint cost seconds): the backbone
    # now trains too.
    later = train(vgg_config(tiny_data, tmp_path, path, epochs=2, freeze_backbone_epochs=1))
    assert later.resumed_from.endswith("ckpt-6") and later.final_step == 12
    trained = conv_weights(keras.models.load_model(later.final_model_path))
    moved = [not np.array_equal(trained[n][0], reference[n][0]) for n in trained]
    assert all(moved)


def test_a_run_folder_starts_a_run_on_other_classes(tiny_data, tmp_path):
    name, data_dir = tiny_data
    source = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset=name,
        data_dir=data_dir,
        download=False,
        image_size=32,
        model_dir=str(tmp_path / "source"),
        epochs=1,
        global_batch_size=16,
        export_saved_model=False,
    )
    source_model = keras.models.load_model(train(source).final_model_path)
    target = TrainConfig(
        model="resnet18",
        model_overrides={"stem": "cifar", "width": 4},
        dataset="shapes10",
        init_weights=str(tmp_path / "source"),
        model_dir=str(tmp_path / "target"),
        epochs=None,
        train_steps=1,
        global_batch_size=16,
    )
    plan = plan_run(target)
    source_preprocessing = plan_run(source).dataset.preprocessing
    assert plan.dataset.preprocessing.mean == source_preprocessing.mean  # the source's statistics
    model = plan.model.build()
    report = initialize_weights(model, str(tmp_path / "source"))
    assert report["skipped"] == ["classifier"]  # 3 classes there, 10 here
    for layer in model.layers:
        if layer.weights and layer.name != "classifier":
            for a, b in zip(
                layer.get_weights(), source_model.get_layer(layer.name).get_weights(), strict=True
            ):
                np.testing.assert_array_equal(a, b, err_msg=layer.name)


def test_frozen_steps_keep_backbone_weights_and_batchnorm_statistics():
    images = np.random.default_rng(0).normal(size=(64, 16, 16, 3)).astype("float32")
    labels = np.random.default_rng(1).integers(0, 3, 64)

    def input_fn(ctx, epoch):
        data = tf.data.Dataset.from_tensor_slices((images, labels)).repeat()
        return data.batch(16, drop_remainder=True)

    runner = StepRunner(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        lambda: deepnets.build_model(
            "resnet18",
            num_classes=3,
            input_shape=(16, 16, 3),
            stem="cifar",
            width=4,
            classifier_activation=None,
        ),
        lambda variables: make_optimizer(TrainConfig(), 0.1, variables),
        input_fn,
        StepSettings(steps_per_epoch=4, global_batch_size=16, num_classes=3),
        parts=[FrozenBackbone(4)],
    )
    head = runner.model.get_layer("classifier")
    backbone = [w for w in runner.model.weights if not any(w is h for h in head.weights)]
    before = [w.numpy().copy() for w in backbone]
    head_before = [w.numpy().copy() for w in head.weights]
    runner.train(0, 4)
    for weight, value in zip(backbone, before, strict=True):  # moving statistics included
        np.testing.assert_array_equal(weight.numpy(), value, err_msg=weight.path)
    assert not np.array_equal(head.weights[0].numpy(), head_before[0])
    runner.train(4, 4)
    assert any(not np.array_equal(w.numpy(), v) for w, v in zip(backbone, before, strict=True))
    runner.part(FrozenBackbone).frozen_steps = 10  # a boundary inside the next loop is refused
    with pytest.raises(ValueError, match="cross the end of the frozen backbone"):
        runner.train(8, 4)


def test_backbone_learning_rate_multiplier_scales_the_backbone_update():
    tf.keras.utils.set_random_seed(3)
    images = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    labels = np.arange(16) % 3

    def run(multiplier):
        def input_fn(ctx, epoch):
            return tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(16)

        def build():
            tf.keras.utils.set_random_seed(3)
            return deepnets.build_model(
                "vgg11",
                num_classes=3,
                input_shape=(32, 32, 3),
                width=4,
                head="cifar",
                dropout=0.0,
                classifier_activation=None,
            )

        def sgd(scale):
            return lambda variables: keras.optimizers.SGD(ScaledSchedule(0.1, scale))

        runner = StepRunner(
            tf.distribute.OneDeviceStrategy("/cpu:0"),
            build,
            sgd(1.0),
            input_fn,
            StepSettings(steps_per_epoch=4, global_batch_size=16, num_classes=3),
            parts=[BackboneOptimizer(sgd(multiplier))] if multiplier != 1.0 else [],
        )
        before = [w.numpy().copy() for w in runner.model.trainable_weights]
        runner.train(0, 1)
        return [w.numpy() - b for w, b in zip(runner.model.trainable_weights, before, strict=True)]

    full, tenth = run(1.0), run(0.1)
    for i, (a, b) in enumerate(zip(full, tenth, strict=True)):
        is_head = i >= len(full) - 2  # the classifier's kernel and bias come last
        np.testing.assert_allclose(b, a if is_head else 0.1 * a, rtol=1e-4, atol=1e-7)


def test_fine_tuning_settings_that_cannot_work_are_refused(
    tiny_data, vgg16_imagenet_file, tmp_path
):
    path, _ = vgg16_imagenet_file
    with pytest.raises(ConfigError, match=r"does not exist") as info:
        plan_run(vgg_config(tiny_data, tmp_path, "/no/such/weights.h5", epochs=1))
    assert info.value.name == "init_weights"
    with pytest.raises(ConfigError, match=r"fit vgg16, vgg19, resnet50.*not model='resnet18'"):
        plan_run(TrainConfig(model="resnet18", init_weights=path))
    with pytest.raises(ConfigError, match=r"mixed_float16") as info:
        plan_run(
            TrainConfig(backbone_learning_rate_multiplier=0.1, mixed_precision="mixed_float16")
        )
    assert info.value.name == "backbone_learning_rate_multiplier"


def serve_locally(monkeypatch, cache, key, path, file_hash=None):
    """keras.applications' file for `key` served from `path` (no network), into `cache`."""
    entry = IMAGENET_WEIGHTS[key]
    file_hash = file_hash or hashlib.md5(Path(path).read_bytes()).hexdigest()
    monkeypatch.setitem(
        IMAGENET_WEIGHTS, key, WeightsFile(entry.file_name, Path(path).as_uri(), file_hash)
    )
    monkeypatch.setattr(imagenet_weights, "CACHE_DIR", str(cache))


def test_imagenet_weights_are_downloaded_then_ported_into_build_model_and_a_run(
    tiny_data, vgg16_imagenet_file, tmp_path, monkeypatch
):
    path, reference = vgg16_imagenet_file
    serve_locally(monkeypatch, tmp_path / "cache", ("vgg16", False), path)
    model = deepnets.build_model(
        "vgg16", head="cifar", num_classes=3, input_shape=(32, 32, 3), weights="imagenet"
    )
    for name, weights in conv_weights(model).items():
        for got, want in zip(weights, reference[name], strict=True):
            np.testing.assert_array_equal(got, want)
    plan = plan_run(vgg_config(tiny_data, tmp_path / "run", "imagenet", epochs=1))
    assert plan.dataset.preprocessing.normalization == "caffe"  # what those weights expect
    with pytest.raises(ConfigError, match=r"fit vgg16, vgg19, resnet50.*not model='resnet18'"):
        plan_run(TrainConfig(model="resnet18", init_weights="imagenet"))
    missing = tmp_path / "no_network.h5"  # the download fails as without a network
    serve_locally(monkeypatch, tmp_path / "empty_cache", ("vgg16", False), path, "0" * 32)
    monkeypatch.setitem(
        IMAGENET_WEIGHTS,
        ("vgg16", False),
        WeightsFile(IMAGENET_WEIGHTS[("vgg16", False)].file_name, missing.as_uri(), "0" * 32),
    )
    with pytest.raises(ConfigError) as info:
        new_model(plan, lambda: None, {})
    line = error_message(info.value)
    assert line.startswith("--init_weights: could not download vgg16_weights_") and "\n" not in line
    assert line.endswith("instead of 'imagenet' (e.g. --init_weights=PATH).")
