"""Users build their own models from deepnets blocks: train a step, save, reload, compare."""

import re
from pathlib import Path

import numpy as np
import tensorflow as tf
from model_cases import images

from deepnets.layers import BasicBlock, BottleneckBlock, IdentityBlock, ResNetStem, VGGBlock

keras = tf.keras
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MODELS_DOC = REPO / "docs" / "models.md"


def _train_one_step(model, x, y):
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    before = [w.numpy().copy() for w in model.trainable_weights]
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), True)
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)  # every block weight is on the gradient path
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    # Every conv and dense kernel moves. (A conv bias followed by BatchNorm gets no gradient:
    # BN subtracts the batch mean. That is why keras.applications' biases are redundant.)
    kernels = [
        (b, w) for b, w in zip(before, model.trainable_weights, strict=True) if "kernel" in w.path
    ]
    assert len(kernels) >= 6
    assert all(not np.allclose(b, w.numpy()) for b, w in kernels)


def _check_reload(model, path, x):
    expected = model(x, training=False).numpy()
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, atol=1e-5)
    return loaded


def test_functional_model_of_blocks_trains_saves_and_reloads(tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = ResNetStem(8, stem="cifar")(inputs)
    x = VGGBlock(8, num_convs=1, batch_norm=True)(x)
    x = BottleneckBlock((4, 4, 16), strides=2)(x)
    x = IdentityBlock((4, 4, 16), stochastic_depth_rate=0.1)(x)
    x = BasicBlock(24, strides=2)(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    x, y = images((32, 32, 3), batch=4), np.array([0, 1, 2, 1])
    _train_one_step(model, x, y)
    _check_reload(model, tmp_path / "functional.keras", x)


@keras.utils.register_keras_serializable(package="tests")
class TinyResNet(keras.Model):
    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.stem = ResNetStem(8, stem="cifar")
        self.block1 = BasicBlock(8)
        self.block2 = BasicBlock(16, strides=2, bn_momentum=0.9)
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.classifier = keras.layers.Dense(num_classes)

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = self.stem.compute_output_shape(input_shape)
        self.block1.build(shape)
        self.block2.build(shape)
        shape = self.block2.compute_output_shape(shape)
        self.pool.build(shape)
        self.classifier.build((shape[0], shape[-1]))

    def call(self, x, training=None):
        x = self.stem(x, training=training)
        x = self.block2(self.block1(x, training=training), training=training)
        return self.classifier(self.pool(x))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def test_subclassed_model_of_blocks_trains_saves_and_reloads(tmp_path):
    model = TinyResNet()
    model.build((None, 32, 32, 3))
    assert model.count_params() > 0
    x, y = images((32, 32, 3), batch=4), np.array([0, 1, 2, 1])
    _train_one_step(model, x, y)
    _check_reload(model, tmp_path / "subclassed.keras", x)


def test_readme_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert isinstance(namespace["model"], keras.Model)
    x = images((32, 32, 3), batch=2)
    np.testing.assert_allclose(namespace["reloaded"](x), namespace["mine"](x), atol=1e-6)


def test_docs_reuse_snippet_runs(tmp_path, monkeypatch):
    text = MODELS_DOC.read_text()
    section = text.split("## Reuse the blocks in your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "docs/models.md", "exec"), namespace)
    assert isinstance(namespace["model"], keras.Model)
    assert (tmp_path / "my_model.keras").exists()
    x = namespace["x"]
    np.testing.assert_allclose(namespace["reloaded"](x), namespace["model"](x), atol=1e-6)
    # The second snippet (the whitening layer) runs on the first one's images.
    whitening = re.findall(r"```python\n(.*?)```", section, re.S)[1]
    exec(compile(whitening, "docs/models.md", "exec"), namespace)
    assert namespace["whiten"](x).shape == (4, 31, 31, 24)
    assert [w.name for w in namespace["whiten"].trainable_weights] == ["bias"]
