"""Model registry: every model by name, with the overrides each one accepts.

`build_model("resnet50", num_classes=100, stem="cifar")` builds a registered model; variants are
data (class + the arguments that define the variant + default overrides; `presets.PRESETS`), so
a new model is one `register_model` call, and every test that runs over `list_models()` covers it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from deepnets.models.base import LAYER_ARGUMENTS
from deepnets.models.keras_weights import load_imagenet_weights
from deepnets.models.presets import PRESETS


@dataclass(frozen=True)
class ModelSpec:
    """How to build a registered model.

    Attributes:
        model_class: the `ImageClassifier` subclass.
        fixed: the arguments that make this variant what its name says (e.g. depth=50); they
            cannot be overridden.
        defaults: default arguments the user may override (e.g. a smaller head).
    """

    model_class: type
    fixed: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def allowed_overrides(self) -> tuple[str, ...]:
        """The arguments `build_model` takes for this model: the constructor's, less the fixed
        ones, then Keras' name/dtype/trainable, then the 0.2 names of renamed arguments."""
        params = inspect.signature(self.model_class.__init__).parameters
        names = [
            p
            for p, v in params.items()
            if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
        ]
        names += [n for n in LAYER_ARGUMENTS if n not in names]
        names += list(getattr(self.model_class, "RENAMED_ARGUMENTS", {}))
        return tuple(n for n in names if n not in self.fixed)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    model_class: type,
    fixed: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> None:
    """Add a model to the registry.

    Args:
        name: the registry name, e.g. "resnet50".
        model_class: a `keras.Model` subclass whose constructor takes keyword arguments.
        fixed: arguments that define the variant; `build_model` refuses to override them.
        defaults: arguments used unless the caller overrides them.

    Raises:
        ValueError: if `name` is already registered.
    """
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered.")
    _REGISTRY[name] = ModelSpec(model_class, dict(fixed or {}), dict(defaults or {}))


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def get_model_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a registered model; a ValueError lists the names if it is unknown."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Valid names: {', '.join(list_models())}."
        )
    return _REGISTRY[name]


def build_model(name: str, weights: str | None = None, **overrides: Any) -> keras.Model:
    """Build a registered model by name.

    Args:
        name: a name from `list_models()`, e.g. "resnet50" or "vgg16_bn".
        weights: None (initialized), "imagenet" (keras.applications' ImageNet weights,
            downloaded once into Keras' cache; vgg16, vgg19, resnet50, resnet101, resnet152 with
            their default backbone; the classifier too when it has 1000 classes, else it starts
            new), or the path of such a keras.applications `.h5` file.
        **overrides: constructor arguments of the model class, e.g. num_classes=100,
            stem="cifar", classifier_activation=None, input_shape=(32, 32, 3).

    Returns:
        A built model (a functional model, wired when constructed); `model.build(shape)` only
        checks that `shape` fits its `input_shape`.

    Raises:
        ValueError: unknown model name (the message lists the valid names).
        TypeError: an override the model does not take, or one that its name fixes; weights
            for a family keras.applications has none of.
        WeightsDownloadError: "imagenet" weights that could not be downloaded (an OSError; the
            message says how to pass a file instead).
    """
    spec = get_model_spec(name)
    allowed = spec.allowed_overrides()
    for key in overrides:
        if key in spec.fixed:
            raise TypeError(
                f"build_model({name!r}) does not accept `{key}`: the name fixes "
                f"{key}={spec.fixed[key]!r}. Pick another model from list_models()."
            )
        if key not in allowed:
            raise TypeError(
                f"build_model({name!r}) got an unexpected override `{key}`. "
                f"{spec.model_class.__name__} accepts: {', '.join(allowed)}."
            )
    kwargs = {"name": name, **spec.defaults, **overrides, **spec.fixed}
    model = spec.model_class(**kwargs)
    if weights is not None:
        load_imagenet_weights(model, weights)
    return model


def _register_defaults() -> None:
    for name, (model_class, fixed, defaults) in PRESETS.items():
        register_model(name, model_class, fixed, defaults)


_register_defaults()


def model_builder(name: str) -> Callable[..., keras.Model]:
    """A function `builder(**overrides)` equal to `build_model(name, **overrides)`."""

    def builder(**overrides: Any) -> keras.Model:
        return build_model(name, **overrides)

    builder.__name__ = builder.__qualname__ = name
    spec = get_model_spec(name)
    fixed = ", ".join(f"{k}={v!r}" for k, v in spec.fixed.items())
    builder.__doc__ = (
        f"Build {name}: `{spec.model_class.__name__}({fixed})`; see its docstring for overrides."
    )
    return builder
