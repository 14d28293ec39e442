"""Write the 0.2 files that test_v0_2_files.py loads (run with deepnets 0.2, commit edac325).

    git worktree add /tmp/deepnets-0.2 edac325
    cd /tmp/deepnets-0.2 && PYTHONPATH=. python /path/to/tests/models/v0_2/make_files.py OUT_DIR

Each model is small and returns logits. `outputs.npz` holds the images and each model's outputs
under 0.2; `configs.json` each model's `serialize_keras_object` as 0.2 wrote it (those of
`CONFIGS_ONLY` too, which have no file).
"""

import json
import pathlib
import sys
import zipfile

import numpy as np
import tensorflow as tf

import deepnets
from deepnets.layers import BottleneckBlock, ResNetStem

keras = tf.keras
SHAPE = (16, 16, 3)


def _blocks_functional() -> keras.Model:
    """A user's functional model of deepnets blocks: the layers' own 0.2 configs are saved."""
    inputs = keras.Input(SHAPE)
    x = ResNetStem(4, stem="cifar")(inputs)
    x = BottleneckBlock((2, 2, 8), strides=2, variant="v1.5")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _registered(name: str, **overrides) -> keras.Model:
    return deepnets.build_model(
        name, classifier_activation=None, input_shape=SHAPE, num_classes=3, **overrides
    )


MODELS = {
    "cifar_resnet8": lambda: deepnets.models.CifarResNet(
        depth=8, width=4, num_classes=3, classifier_activation=None, input_shape=SHAPE
    ),
    "resnet18": lambda: _registered("resnet18", width=2, stem="cifar"),
    "resnet50_v1_5": lambda: _registered("resnet50", width=1, stem="cifar", variant="v1.5"),
    "vgg_fast_whiten": lambda: _registered(
        "vgg_fast_half", widths=(4, 8, 8), stem_width=4, stem="whiten"
    ),
    "blocks_functional": _blocks_functional,
}
# Models whose 0.2 config alone is kept (configs.json), with their registry overrides.
CONFIGS_ONLY = {
    "plain20": {"num_classes": 3},
    "resnet50": {},
    "alexnet_cifar": {},
    "vgg11_bn": {"width": 2, "head": "cifar"},
    "vgg_fast": {},
}


def _deflate(path: pathlib.Path) -> None:
    """Keras stores the zip uncompressed; the same entries deflated take a third of the space."""
    with zipfile.ZipFile(path) as stored:
        entries = [(info.filename, stored.read(info)) for info in stored.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as deflated:
        for name, data in entries:
            deflated.writestr(name, data)


def _move_statistics(model: keras.Model) -> None:
    """BN statistics (and the whitening kernel) away from 0 and 1, so that a mix-up shows."""
    for weight in model.non_trainable_weights:
        rng = np.random.default_rng(len(weight.path))
        values = rng.uniform(0.5, 1.5, weight.shape) * np.sign(weight.numpy() + 1e-9)
        weight.assign(values.astype("float32"))


def main(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")
    arrays, configs = {"images": x}, {}
    for file, build in MODELS.items():
        tf.keras.utils.set_random_seed(1)
        model = build()
        _move_statistics(model)
        arrays[file] = model(x, training=False).numpy()
        model.save(out / f"{file}.keras")
        _deflate(out / f"{file}.keras")
        configs[file] = tf.keras.utils.serialize_keras_object(model)
    for name, overrides in CONFIGS_ONLY.items():
        configs[name] = tf.keras.utils.serialize_keras_object(
            deepnets.build_model(name, **overrides)
        )
    np.savez(out / "outputs.npz", **arrays)
    (out / "configs.json").write_text(json.dumps(configs, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
