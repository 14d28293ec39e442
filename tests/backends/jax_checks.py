"""The model checks on the JAX backend, run by test_jax.py in one subprocess.

    KERAS_BACKEND=jax python tests/backends/jax_checks.py WORK_DIR

WORK_DIR holds what the suite made on TensorFlow: `<model>.keras`, `<model>.npz` (the inputs
and the model's outputs in inference and in training mode) and `views.npz`. Every check's result
goes to WORK_DIR/results.json as {check: "ok" or the error}; the models this process saves go
to `<model>.jax.keras` with their outputs in `<model>.jax.npz`, for the suite to load back on
TensorFlow.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKS: dict[str, Callable[[Path], None]] = {}


def check(function: Callable[[Path], None]) -> Callable[[Path], None]:
    CHECKS[function.__name__] = function
    return function


@check
def imports_without_tensorflow(work_dir: Path) -> None:
    import keras

    import deepnets  # noqa: F401

    assert keras.backend.backend() == "jax", keras.backend.backend()
    started = sorted(name for name in ("tensorflow", "deepnets.data") if name in sys.modules)
    assert not started, f"import deepnets imported {started} on JAX"


@check
def docs_example_runs(work_dir: Path) -> None:
    """The JAX example of docs/models.md, as it stands there, run in WORK_DIR."""
    import os

    text = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    section = text.split("## On JAX", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    previous = os.getcwd()
    os.chdir(work_dir)
    try:
        namespace: dict[str, Any] = {}
        exec(compile(code, "docs/models.md", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(previous)
    assert namespace["model"].output_shape == (None, 10)
    assert (work_dir / "mine_jax.keras").exists()


def _saved_models(work_dir: Path) -> list[str]:
    saved = work_dir.glob("*.keras")
    return sorted(p.stem for p in saved if ".jax" not in p.suffixes and p.stem != "mine_jax")


def _outputs(model: Any, images: Any) -> tuple[Any, Any]:
    """The model's outputs in inference and in training mode, from one compiled function.

    Eager JAX compiles every op of a first call on its own (about 0.1 s each on a CPU); one
    `jax.jit` of both calls compiles once.
    """
    import jax
    import keras

    @jax.jit
    def both(trainable, non_trainable, images):
        inference, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        training, _ = model.stateless_call(trainable, non_trainable, images, training=True)
        return inference, training

    values = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )
    return tuple(keras.ops.convert_to_numpy(x) for x in both(*values, images))


@check
def models_reload_from_tensorflow(work_dir: Path) -> None:
    import keras
    import numpy as np

    import deepnets  # noqa: F401  (registers the classes)

    for name in _saved_models(work_dir):
        model = keras.models.load_model(work_dir / f"{name}.keras")
        data = np.load(work_dir / f"{name}.npz")
        inference, training = _outputs(model, data["images"])
        np.testing.assert_allclose(inference, data["inference"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(training, data["training"], rtol=1e-4, atol=1e-4)


@check
def models_config_round_trip(work_dir: Path) -> None:
    import keras

    from deepnets.models import ImageClassifier

    for name in _saved_models(work_dir):
        model = keras.models.load_model(work_dir / f"{name}.keras")
        if not isinstance(model, ImageClassifier):
            continue  # a functional model's config names its layers anew
        config = model.get_config()
        again = type(model).from_config(config)
        assert type(again) is type(model), (name, type(again))
        assert again.get_config() == config, name
        assert again.output_shape == model.output_shape, name


@check
def models_train_one_step_and_save(work_dir: Path) -> None:
    import keras
    import numpy as np

    import deepnets  # noqa: F401

    for name in _saved_models(work_dir):
        model = keras.models.load_model(work_dir / f"{name}.keras")
        images = np.load(work_dir / f"{name}.npz")["images"]
        labels = np.arange(len(images)) % model.output_shape[-1]
        before = [keras.ops.convert_to_numpy(w) for w in model.weights]
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        loss = float(model.train_on_batch(images, labels))
        assert np.isfinite(loss), (name, loss)
        changed = {
            w.path
            for w, old in zip(model.weights, before, strict=True)
            if not np.array_equal(keras.ops.convert_to_numpy(w), old)
        }
        assert any("kernel" in path for path in changed), (name, "no kernel trained")
        if any("moving_mean" in w.path for w in model.weights):
            assert any("moving_mean" in path for path in changed), (name, "BN stats kept")
        model.save(work_dir / f"{name}.jax.keras")
        inference, _ = _outputs(model, images)
        np.savez(work_dir / f"{name}.jax.npz", images=images, inference=inference)
        reloaded = keras.models.load_model(work_dir / f"{name}.jax.keras")
        assert type(reloaded) is type(model), name
        for saved, loaded in zip(model.weights, reloaded.weights, strict=True):
            np.testing.assert_array_equal(loaded, saved, err_msg=f"{name}: {saved.path}")


@check
def whitening_adapts(work_dir: Path) -> None:
    import keras
    import numpy as np

    from deepnets.layers import PatchWhitening

    images = np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype("float32")
    layer = PatchWhitening(kernel_size=2)
    assert layer.adapt(keras.ops.convert_to_tensor(images)) == 8
    outputs = keras.ops.convert_to_numpy(layer(images)).reshape(-1, 24)[:, :12]
    # whitened: zero mean and the identity covariance over the images' patches (up to epsilon)
    np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(outputs.T, bias=True), np.eye(12), atol=2e-2)


@check
def view_averaging_matches_tensorflow(work_dir: Path) -> None:
    import keras
    import numpy as np

    from deepnets.models.view_averaging import average_probabilities

    data = np.load(work_dir / "views.npz")
    weights = keras.ops.convert_to_tensor(data["weights"])

    def probabilities(images):
        logits = keras.ops.reshape(images, (images.shape[0], -1)) @ weights
        return keras.ops.softmax(logits)

    got = average_probabilities(probabilities, data["images"], flip=True, translate=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), data["expected"], atol=1e-6)


def main(work_dir: Path) -> None:
    results = {}
    for name, function in CHECKS.items():
        started = time.perf_counter()
        try:
            function(work_dir)
            results[name] = "ok"
        except Exception:  # noqa: BLE001 (every check reports, whatever it raised)
            results[name] = traceback.format_exc()
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    (work_dir / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
