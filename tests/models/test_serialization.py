"""Every registered model: config round trip, .keras in a fresh process, SavedModel, weights."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from model_cases import distinct_models, images, small_input_shape, small_model

import deepnets

keras = tf.keras
NAMES = deepnets.list_models()
DISTINCT_NAMES = distinct_models()  # for the slowest checks; see model_cases


@pytest.mark.parametrize("name", NAMES)
def test_from_config_gives_same_class_and_config(name):
    model = small_model(name)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert type(clone) is type(model)
    assert clone.get_config() == config
    json.dumps(config)  # plain JSON, as a .keras file stores it


def test_keras_files_load_in_a_fresh_process_with_only_import_deepnets(tmp_path):
    expected, classes_built = {}, {}
    for name in DISTINCT_NAMES:
        model = small_model(name)
        classes_built[name] = f"{type(model).__module__}.{type(model).__name__}"
        x = images(small_input_shape(name), seed=1)
        expected[name] = model(x, training=False).numpy()
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}_x.npy", x)
    script = textwrap.dedent(
        f"""
        import json, pathlib, numpy as np, tensorflow as tf
        import deepnets
        out = {{}}
        for name in {DISTINCT_NAMES!r}:
            d = pathlib.Path({str(tmp_path)!r})
            model = tf.keras.models.load_model(d / f"{{name}}.keras")  # safe_mode on
            y = model(np.load(d / f"{{name}}_x.npy"), training=False).numpy()
            np.save(d / f"{{name}}_y.npy", y)
            out[name] = type(model).__module__ + "." + type(model).__name__
        print("CLASSES=" + json.dumps(out))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("CLASSES="))
    classes = json.loads(line[len("CLASSES=") :])
    assert classes == classes_built
    for name in DISTINCT_NAMES:
        np.testing.assert_allclose(
            np.load(tmp_path / f"{name}_y.npy"), expected[name], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("name", DISTINCT_NAMES)
def test_savedmodel_export_serves_same_outputs(name, tmp_path):
    model = small_model(name)
    x = images(small_input_shape(name), seed=2)
    expected = model(x, training=False).numpy()
    model.export(str(tmp_path / "sm"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "sm"))
    out = served.serve(tf.constant(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", DISTINCT_NAMES)
def test_weights_file_and_checkpoint_restore_same_outputs(name, tmp_path):
    model = small_model(name)
    x = images(small_input_shape(name), seed=3)
    expected = model(x, training=False).numpy()
    model.save_weights(tmp_path / "w.weights.h5")
    other = small_model(name)
    assert not np.allclose(other(x, training=False).numpy(), expected, atol=1e-6)
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(other(x, training=False).numpy(), expected, atol=1e-6)

    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    saved = [n for n, _ in tf.train.list_variables(path) if n.startswith("model/")]
    assert len(saved) == len(model.weights)  # no sublayer missed by TF's object tracking
    third = small_model(name)
    tf.train.Checkpoint(model=third).read(path).assert_existing_objects_matched()
    np.testing.assert_allclose(third(x, training=False).numpy(), expected, atol=1e-6)


def test_channels_first_model_saves_and_reloads(tmp_path):
    model = deepnets.build_model(
        "resnet18", width=4, stem="cifar", num_classes=3, data_format="channels_first"
    )
    x = images((3, 16, 16))
    expected = model(x, training=False).numpy()
    model.save(tmp_path / "cf.keras")
    loaded = keras.models.load_model(tmp_path / "cf.keras")
    assert loaded.data_format == "channels_first"
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_mixed_float16_model_outputs_float32_and_reloads(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = deepnets.build_model("resnet18", width=4, stem="cifar", num_classes=3)
    y = model(images((16, 16, 3)), training=False)
    assert y.dtype == tf.float32  # the classifier runs in float32 for a stable softmax
    assert model.blocks[0].conv1.compute_dtype == "float16"
    model.save(tmp_path / "mp.keras")
    # The config carries the policy: a process whose global policy is float32 (as a fresh one
    # is) reloads a mixed-precision model.
    keras.mixed_precision.set_global_policy("float32")
    loaded = keras.models.load_model(tmp_path / "mp.keras")
    assert loaded.dtype_policy.name == "mixed_float16"
    assert loaded.blocks[0].conv1.compute_dtype == "float16"
    assert loaded.get_layer("classifier").predictions.compute_dtype == "float32"
    np.testing.assert_allclose(
        loaded(images((16, 16, 3)), training=False).numpy(), y.numpy(), atol=1e-3
    )
