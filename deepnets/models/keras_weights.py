"""Copy keras.applications VGG16/VGG19/ResNet50/ResNet101/ResNet152 weights into deepnets models.

The deepnets models with default arguments are keras.applications' architectures layer for
layer, so their weights map one to one. This lets users fine-tune from the ImageNet weight files
they already have (the `.h5` files keras.applications downloads), without any network access here.

    model = deepnets.build_model("resnet50")
    load_keras_applications_weights(model, "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import keras

from deepnets.models.imagenet_weights import imagenet_weights_file
from deepnets.models.resnet import ResNet
from deepnets.models.resnet_layout import IMAGENET_LAYOUTS
from deepnets.models.vgg import VGG

_APPLICATIONS = {
    ("vgg", 16): "VGG16",
    ("vgg", 19): "VGG19",
    ("resnet", 50): "ResNet50",
    ("resnet", 101): "ResNet101",
    ("resnet", 152): "ResNet152",
}


def _family(model: keras.Model) -> str:
    if isinstance(model, ResNet):
        return "resnet"
    if isinstance(model, VGG):
        return "vgg"
    raise TypeError(
        "load_keras_applications_weights supports deepnets VGG and ResNet models, "
        f"got {type(model).__name__}."
    )


def _check_compatible(model: keras.Model, *, backbone_only: bool = False) -> str:
    """Return the keras.applications function name matching `model`, or explain why none does.

    With `backbone_only`, the classifier may differ (fine-tuning keeps only the backbone).
    """
    family = _family(model)
    key = (family, model.depth)
    if key not in _APPLICATIONS:
        names = ", ".join(f"{f}{d}" for f, d in _APPLICATIONS)
        raise ValueError(
            f"keras.applications has no {family}{model.depth}; weights can be copied into: {names}."
        )
    wanted: dict[str, Any] = {"width": 64, "use_bias": True}
    if family == "vgg":
        wanted.update(batch_norm=False)
        if model.include_top and not backbone_only:
            wanted.update(head="fc", fc_units=4096)
    else:
        block_type, stage_blocks = IMAGENET_LAYOUTS[model.depth]
        wanted.update(
            block_type=block_type,
            stage_blocks=stage_blocks,
            stage_widths=(64, 128, 256, 512),
            stage_strides=(1, 2, 2, 2),
            stem="imagenet",
            stride_in="1x1",
        )
    for key_name, value in wanted.items():
        actual = getattr(model, key_name)
        if actual != value:
            raise ValueError(
                f"keras.applications.{_APPLICATIONS[key]} has {key_name}={value!r}, but the "
                f"model has {key_name}={actual!r}. Build the model with "
                f"{key_name}={value!r} to copy these weights."
            )
    return _APPLICATIONS[key]


def _resnet_pairs(model: ResNet) -> Iterator[tuple[str, keras.layers.Layer]]:
    stem = model.get_layer("conv1")
    yield "conv1_conv", stem.conv
    yield "conv1_bn", stem.bn
    for block in model.blocks:  # block names are keras.applications' prefixes: conv2_block1 ...
        if block.shortcut_conv is not None:
            yield f"{block.name}_0_conv", block.shortcut_conv
            yield f"{block.name}_0_bn", block.shortcut_bn
        for i in (1, 2, 3):
            yield f"{block.name}_{i}_conv", getattr(block, f"conv{i}")
            yield f"{block.name}_{i}_bn", getattr(block, f"bn{i}")


def _vgg_pairs(model: VGG) -> Iterator[tuple[str, keras.layers.Layer]]:
    for block in model.blocks:  # block1 ... block5, keras.applications' prefixes
        for c, conv in enumerate(block.convs):
            yield f"{block.name}_conv{c + 1}", conv
    if model.include_top:
        for i, dense in enumerate(model.get_layer("classifier").hidden[:2]):
            yield f"fc{i + 1}", dense


def _reference_from_file(model: keras.Model, app_name: str, path: str) -> keras.Model:
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    # With the classifier, the reference must flatten maps of the model's size (VGG's fc1).
    input_shape = tuple(model.input_shape[1:]) if model.include_top else None
    app = getattr(keras.applications, app_name)
    old_format = keras.config.image_data_format()
    keras.config.set_image_data_format(model.data_format)
    try:
        return app(
            weights=path,
            include_top=model.include_top,
            classes=model.num_classes,
            input_shape=input_shape,
        )
    finally:
        keras.config.set_image_data_format(old_format)


def load_keras_applications_weights(model: keras.Model, source: Any) -> keras.Model:
    """Copy the weights of a keras.applications model into an equivalent deepnets model.

    Args:
        model: a deepnets VGG (depth 16 or 19, no BN) or ResNet (depth 50/101/152 with the
            paper's stages, ImageNet stem, stride_in "1x1", width 64, use_bias) with the same
            `include_top` and `num_classes` as the source (and, with VGG's classifier, the same
            input size).
        source: a keras.applications model (`keras.applications.ResNet50(weights=None)` or
            with loaded weights), or the path of a keras.applications weights `.h5` file.

    Returns:
        `model`, with every weight copied.

    Raises:
        ValueError: the architectures differ (the message says which argument to change).
        FileNotFoundError: `source` is a path that does not exist.
    """
    app_name = _check_compatible(model)
    if isinstance(source, (str, os.PathLike)):
        source = _reference_from_file(model, app_name, os.fspath(source))
    if not isinstance(source, keras.Model):
        raise TypeError(
            f"`source` must be a keras.applications model or a weights file path, got {source!r}."
        )
    pairs = list(_resnet_pairs(model) if isinstance(model, ResNet) else _vgg_pairs(model))
    if model.include_top:
        pairs.append(("predictions", model.get_layer("classifier").predictions))
    source_names = {layer.name for layer in source.layers if layer.weights}
    missing = sorted(source_names - {name for name, _ in pairs})
    if missing:
        raise ValueError(
            f"{source.name} has weighted layers with no counterpart in {model.name}: "
            f"{missing[:5]}. Check that include_top={model.include_top} matches the source "
            f"and that the source is keras.applications.{app_name}."
        )
    for name, target in pairs:
        try:
            weights = source.get_layer(name).get_weights()
        except ValueError as err:
            raise ValueError(
                f"{source.name} has no layer {name!r}; is it keras.applications.{app_name} "
                f"with include_top={model.include_top}?"
            ) from err
        expected = [tuple(w.shape) for w in target.get_weights()]
        got = [tuple(w.shape) for w in weights]
        if expected != got:
            raise ValueError(
                f"Weights of {name!r} have shapes {got}, but {model.name}'s layer expects "
                f"{expected}. Check num_classes={model.num_classes}, include_top and "
                f"input_shape={tuple(model.input_shape[1:])}."
            )
        target.set_weights(weights)
    return model


def _file_has_classifier(path: str) -> bool:
    """Whether a keras.applications `.h5` file holds the ImageNet classifier ("predictions")."""
    import h5py  # a Keras dependency; only needed to read these files

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        names = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in group.attrs.get("layer_names", [])
        ]
        return "predictions" in (names or list(group.keys()))


def _fits_imagenet_classifier(model: keras.Model) -> bool:
    """Whether the model's classifier has the shapes of keras.applications' 1000-class one."""
    if not model.include_top or model.num_classes != 1000:
        return False
    if isinstance(model, VGG):  # fc1 takes the 7x7 maps of a 224x224 input
        shape = model.input_shape[1:]
        size = shape[1:] if model.data_format == "channels_first" else shape[:2]
        return model.head == "fc" and model.fc_units == 4096 and tuple(size) == (224, 224)
    return True


def load_imagenet_weights(model: keras.Model, path: str = "imagenet") -> dict[str, list[str]]:
    """Start fine-tuning from keras.applications' ImageNet weights.

    Every backbone weight is copied; the fully connected layers (VGG's fc1, fc2 and the
    1000-class "predictions") only where the file has them and the shapes agree, so a model for
    another class count, or with the small "cifar" head, gets a new classifier.

    Args:
        model: a deepnets VGG16/19 (no BN) or ResNet50/101/152 (the paper's stages, ImageNet
            stem, stride_in "1x1", width 64, use_bias), any classifier.
        path: a keras.applications `.h5` weights file, with or without the classifier; or
            "imagenet": keras.applications' own file, downloaded once into Keras' cache (see
            `deepnets.models.imagenet_weights`), with the classifier when the model's fits it.

    Returns:
        {"copied": layer names, "skipped": layer names whose shapes differ or are missing}.

    Raises:
        ValueError: the backbone differs from keras.applications' (the message says how).
        FileNotFoundError: no file at `path`.
        WeightsDownloadError: "imagenet", and the file could not be downloaded (an OSError).
    """
    app_name = _check_compatible(model, backbone_only=True)
    if path == "imagenet":
        path = imagenet_weights_file(app_name.lower(), _fits_imagenet_classifier(model))
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    has_top = _file_has_classifier(path)
    old_format = keras.config.image_data_format()
    keras.config.set_image_data_format(model.data_format)
    try:
        shape = (3, 224, 224) if model.data_format == "channels_first" else (224, 224, 3)
        reference = getattr(keras.applications, app_name)(
            weights=path, include_top=has_top, input_shape=shape if has_top else None
        )
    finally:
        keras.config.set_image_data_format(old_format)
    pairs = list(_resnet_pairs(model) if isinstance(model, ResNet) else _vgg_pairs(model))
    if model.include_top:
        pairs.append(("predictions", model.get_layer("classifier").predictions))
    available = {layer.name for layer in reference.layers if layer.weights}
    report: dict[str, list[str]] = {"copied": [], "skipped": []}
    for name, target in pairs:
        weights = reference.get_layer(name).get_weights() if name in available else None
        shapes = [tuple(w.shape) for w in target.get_weights()]
        if weights is None or [tuple(w.shape) for w in weights] != shapes:
            if name in ("fc1", "fc2", "predictions"):
                report["skipped"].append(name)
                continue
            raise ValueError(f"{path} has no weights of {shapes} for {name!r}.")
        target.set_weights(weights)
        report["copied"].append(name)
    return report
