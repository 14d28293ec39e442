"""LiteRT and ONNX exports, run in their own runtimes: the same uint8 images give the SavedModel's
probabilities (float) or nearly its top-1 (int8), and the class names travel with the files."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from run_scripts import REPO_ROOT, script_env

import deepnets
from deepnets.data import Preprocessing
from deepnets.data.folders import ImageFolder
from deepnets.models import ImagePredictor
from deepnets.training import (
    TrainConfig,
    calibration_images_of_folder,
    dtype_policy,
    export_model,
    portable_input_shape,
    train,
)
from deepnets.training.run_folder.portable import float32_predictor

CLASSES = ("blue", "green", "red")  # the colour a picture leans to is its class


def picture(label, seed, size=(16, 16)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 150, (*size, 3))
    image[..., 2 - label] += 90  # blue, green, red: channels 2, 1, 0
    return image.astype(np.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model trained a few steps on an image folder, exported by deepnets-export: ONNX,
    float LiteRT and int8 LiteRT calibrated on the run's recorded dataset."""
    root = tmp_path_factory.mktemp("pictures")
    for label, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(30):
            image = tf.io.encode_png(picture(label, 100 * label + i)).numpy()
            (root / name / f"{i:03d}.png").write_bytes(image)
    run_dir = tmp_path_factory.mktemp("run")
    train(
        TrainConfig(
            model="vgg_fast_half",
            dataset=str(root),
            model_dir=str(run_dir),
            epochs=None,
            train_steps=24,
            steps_per_loop=24,
            global_batch_size=16,
            optimizer="adam",
            learning_rate=0.01,
            eval_flip=True,  # the test-time views go into the files too
        )
    )
    out = tmp_path_factory.mktemp("exported")
    export = subprocess.run(
        [sys.executable, "-m", "trainers.export", f"--model_dir={run_dir}"]
        + [f"--output_dir={out}", "--format=litert,onnx", "--quantize=none,int8"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env=script_env(),
    )
    assert export.returncode == 0, export.stderr[-3000:]
    assert (
        f"to {out}/model.tflite, {out}/model_int8.tflite, {out}/class_names.json and "
        in export.stdout
    )
    # The held-out pictures of the folder and new ones: uint8 as a client sends them.
    held_out = ImageFolder(str(root), 0.1).files("validation")
    images = [tf.io.decode_png(tf.io.read_file(path)).numpy() for path in held_out.paths]
    labels = list(held_out.labels)
    for i in range(60):
        images.append(picture(i % 3, 10_000 + i))
        labels.append(i % 3)
    images = np.stack(images)
    saved_model = tf.saved_model.load(str(run_dir / "saved_model"))
    served = saved_model.serve_images(images)
    return out, images, np.array(labels), served["probabilities"].numpy()


def litert_probabilities(path, images):
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    (output,) = runner(images=images).values()
    return output


def onnx_probabilities(path, images):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images})[0]


def test_float_litert_and_onnx_give_the_saved_models_probabilities(exported):
    out, images, _, expected = exported
    for name, probabilities in (
        ("litert", litert_probabilities(out / "model.tflite", images)),
        ("onnx", onnx_probabilities(out / "model.onnx", images)),
    ):
        assert probabilities.shape == expected.shape == (len(images), 3), name
        np.testing.assert_allclose(probabilities, expected, atol=1e-4, err_msg=name)
        assert (probabilities.argmax(1) == expected.argmax(1)).all(), name


def test_int8_litert_keeps_the_top1_of_nearly_every_image(exported):
    out, images, labels, expected = exported
    probabilities = litert_probabilities(out / "model_int8.tflite", images)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-2)  # 8-bit softmax
    agreement = float((probabilities.argmax(1) == expected.argmax(1)).mean())
    float_accuracy = float((expected.argmax(1) == labels).mean())
    int8_accuracy = float((probabilities.argmax(1) == labels).mean())
    report = (
        f"int8 LiteRT on {len(images)} images: top-1 agreement {agreement:.3f} with the float "
        f"SavedModel; accuracy {float_accuracy:.3f} -> {int8_accuracy:.3f}"
    )
    print(report)
    assert agreement >= 0.9, report
    assert (out / "model_int8.tflite").stat().st_size < (out / "model.tflite").stat().st_size


def test_the_files_take_uint8_images_and_carry_the_class_names(exported):
    out, *_ = exported
    assert json.loads((out / "class_names.json").read_text()) == list(CLASSES)
    model = onnx.load(str(out / "model.onnx"))
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert json.loads(metadata["class_names"]) == list(CLASSES)
    assert json.loads(metadata["preprocessing"])["image_size"] == [16, 16]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    (given,) = session.get_inputs()
    assert given.type == "tensor(uint8)" and given.shape[1:] == [16, 16, 3]
    (litert_input,) = Interpreter(model_path=str(out / "model.tflite")).get_input_details()
    assert litert_input["dtype"] == np.uint8 and list(litert_input["shape_signature"]) == [
        -1,
        16,
        16,
        3,
    ]


def test_export_model_refuses_what_it_cannot_write_before_writing(tmp_path, monkeypatch):
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Flatten()])
    model.add(tf.keras.layers.Dense(2))
    predictor = ImagePredictor(model, Preprocessing((8, 8), (0.5,) * 3, (0.5,) * 3), ["a", "b"])
    with pytest.raises(ValueError, match=r"formats: got \['tflite'\]; give one or more of"):
        export_model(predictor, str(tmp_path), ["tflite"])
    with pytest.raises(ValueError, match=r"quantize: got \['int4'\]; give one or more of none,"):
        export_model(predictor, str(tmp_path), ["litert"], quantize="int4")
    with pytest.raises(ValueError, match=r"quantize=\['none', 'int8'\] applies to the litert"):
        export_model(predictor, str(tmp_path), ["onnx"], quantize=["none", "int8"])
    with pytest.raises(ValueError, match="calibration_images: quantize='int8' needs"):
        export_model(predictor, str(tmp_path), ["litert"], quantize="int8")
    bad = np.zeros((4, 9, 9, 3), np.uint8)
    with pytest.raises(ValueError, match=r"expected uint8 \[n, 8, 8, 3\]"):
        export_model(predictor, str(tmp_path), ["litert"], quantize="int8", calibration_images=bad)
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if the export extra were missing
    with pytest.raises(
        ImportError, match=r'tf2onnx is not installed: pip install "deepnets\[export\]"'
    ):
        export_model(predictor, str(tmp_path), ["keras", "onnx"])
    assert list(tmp_path.iterdir()) == []


def test_the_input_size_needs_no_resize_inside_the_file():
    stats = ((0.5,) * 3, (0.25,) * 3)
    assert portable_input_shape(Preprocessing((32, 32), *stats)) == (32, 32, 3)
    central = Preprocessing((224, 224), *stats, crop="central")
    assert portable_input_shape(central) == (256, 256, 3)  # 0.875 * 256 = 224
    assert portable_input_shape(Preprocessing((16, 16), *stats, crop="central")) == (19, 19, 3)
    with pytest.raises(ValueError, match=r"image_size=\(20, 24\) with crop='central'"):
        portable_input_shape(Preprocessing((20, 24), *stats, crop="central"))


def test_a_mixed_precision_model_is_exported_in_float32():
    with dtype_policy("mixed_bfloat16"):  # as a run on a CPU with bfloat16 units trains it
        model = deepnets.build_model("vgg_fast_half", num_classes=3, input_shape=(16, 16, 3))
    stats = ((0.5,) * 3, (0.25,) * 3)
    predictor = ImagePredictor(model, Preprocessing((16, 16), *stats), CLASSES, flip=True)
    copy = float32_predictor(predictor)
    assert {layer.dtype_policy.name for layer in copy.classifier._flatten_layers()} == {"float32"}
    assert (copy.class_names, copy.flip) == (CLASSES, True)
    images = np.stack([picture(i % 3, i) for i in range(4)])
    np.testing.assert_allclose(copy(images), predictor(images), atol=0.05)  # bfloat16's rounding
    assert float32_predictor(copy) is copy


def test_calibration_images_of_a_folder_are_brought_to_the_input_size(tmp_path):
    (tmp_path / "sub").mkdir()
    for i, size in enumerate([(16, 16), (20, 30), (40, 12)]):
        image = tf.io.encode_png(picture(i, i, size)).numpy()
        (tmp_path / "sub" / f"{i}.png").write_bytes(image)
    (tmp_path / "notes.txt").write_text("not an image")
    images = calibration_images_of_folder(str(tmp_path), (16, 16, 3), count=2)
    assert images.dtype == np.uint8 and images.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(images[0], picture(0, 0))  # the right size: as it is
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty holds no image file"):
        calibration_images_of_folder(str(tmp_path / "empty"), (16, 16, 3))


def test_deepnets_export_without_the_extra_says_what_to_install_in_one_line(tmp_path):
    hide = (
        "import sys; sys.modules['onnx'] = None\n"  # as if the export extra were missing
        f"sys.argv = ['deepnets-export', '--model_path={tmp_path}/model.keras', "
        f"'--output_dir={tmp_path}', '--format=keras,onnx']\n"
        "from trainers.export import run; run()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=script_env(),
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("deepnets-export:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert lines[0] == (
        "deepnets-export: error: --format=keras,onnx: onnx is not installed: "
        'pip install "deepnets[export]"'
    )
