"""The layers and models on JAX: shapes, configs, a training step, `.keras` files across backends.

Models made and saved here on TensorFlow are loaded, checked, trained one step and saved again
by one JAX subprocess (jax_checks.py); the files it saves load back here on TensorFlow with the
outputs it computed. Between them the models hold every public layer of deepnets.layers.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import deepnets
from deepnets.layers import BottleneckBlock, IdentityBlock
from deepnets.models.view_averaging import average_probabilities

pytest.importorskip("jax")

TESTS = Path(__file__).resolve().parents[1]
CHECKS = (
    "imports_without_tensorflow",
    "docs_example_runs",
    "models_reload_from_tensorflow",
    "models_config_round_trip",
    "models_train_one_step_and_save",
    "whitening_adapts",
    "view_averaging_matches_tensorflow",
)


def _own_model():
    """Deepnets blocks in a model of one's own, as docs/models.md shows it."""
    inputs = tf.keras.Input((16, 16, 3))
    x = tf.keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = BottleneckBlock((4, 4, 8), strides=2, stride_in="3x3")(x)
    x = IdentityBlock((4, 4, 8))(x)
    outputs = tf.keras.layers.Dense(3)(tf.keras.layers.GlobalAveragePooling2D()(x))
    return tf.keras.Model(inputs, outputs)


# Small models with every block between them and every backend-specific path (the fused BN on
# TensorFlow, LRN, the option-A shortcut, the patch-whitening stem, exact GELU), without dropout
# so that training-mode outputs compare too.
MODELS = {
    "resnet": lambda: deepnets.models.ResNet(
        block_type="basic", stage_blocks=(1, 1), stem="cifar", width=4, shortcut="A", **_TOP
    ),
    "fast_vgg": lambda: deepnets.build_model(
        "vgg_fast_half", stem_layer="whiten", widths=(4, 8), **_TOP
    ),
    "alexnet": lambda: deepnets.build_model("alexnet_cifar", fc_units=8, dropout=0.0, **_TOP),
    "own_model": _own_model,
}
_TOP = {"num_classes": 3, "classifier_activation": None, "input_shape": (16, 16, 3)}


def _with_statistics(model, rng):
    """`model` with random BN statistics, so that inference differs from a fresh BN's."""
    for weight in model.non_trainable_weights:
        if "moving_" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
    return model


def _save_tensorflow_models(work_dir: Path) -> None:
    rng = np.random.default_rng(0)
    tf.keras.utils.set_random_seed(0)
    for name, make in MODELS.items():
        model = make()
        images = rng.normal(size=(4, 16, 16, 3)).astype("float32")
        if name == "fast_vgg":
            model.get_layer("stem").adapt(images)
        _with_statistics(model, rng)
        model.save(work_dir / f"{name}.keras")
        inference = model(images, training=False).numpy()
        np.savez(
            work_dir / f"{name}.npz",
            images=images,
            inference=inference,
            training=model(images, training=True).numpy(),
        )
    views = rng.normal(size=(3, 6, 6, 2)).astype("float32")
    weights = rng.normal(size=(72, 4)).astype("float32")

    def probabilities(images):
        return tf.nn.softmax(tf.reshape(images, (images.shape[0], -1)) @ weights)

    expected = average_probabilities(probabilities, tf.constant(views), flip=True, translate=1)
    np.savez(work_dir / "views.npz", images=views, weights=weights, expected=expected.numpy())


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """The TensorFlow models saved, the JAX subprocess run on them: (work dir, its results)."""
    work_dir = tmp_path_factory.mktemp("backends")
    _save_tensorflow_models(work_dir)
    env = {
        **{k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"},
        # An AVX2-only CPU with no kernel setting: where `import deepnets` would warn about
        # TensorFlow's slow kernels, it must not start TensorFlow to find out (imports_without_
        # tensorflow checks).
        "DEEPNETS_FAKE_CPU_FLAGS": "sse4_2 avx avx2 fma",
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        # XLA's CPU compiler at its lowest optimization level compiles in half the time; these
        # tiny models spend far more time compiling than running.
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0",
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
    }
    process = subprocess.run(
        [sys.executable, str(TESTS / "backends" / "jax_checks.py"), str(work_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results_file = work_dir / "results.json"
    assert results_file.exists(), f"the JAX checks did not finish:\n{process.stderr[-3000:]}"
    return work_dir, json.loads(results_file.read_text())


@pytest.mark.parametrize("check", CHECKS)
def test_on_jax(jax_run, check):
    _, results = jax_run
    assert results[check] == "ok", results[check]


@pytest.mark.parametrize("name", MODELS)
def test_saved_on_jax_loads_on_tensorflow(jax_run, name):
    work_dir, _ = jax_run
    model = tf.keras.models.load_model(work_dir / f"{name}.jax.keras")
    data = np.load(work_dir / f"{name}.jax.npz")
    got = model(data["images"], training=False).numpy()
    np.testing.assert_allclose(got, data["inference"], rtol=1e-4, atol=1e-4)


def test_docs_example_file_loads_on_tensorflow(jax_run):
    work_dir, _ = jax_run
    model = tf.keras.models.load_model(work_dir / "mine_jax.keras")
    assert model.output_shape == (None, 10)
