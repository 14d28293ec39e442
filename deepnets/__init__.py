"""deepnets: AlexNet, VGG and ResNet as reusable, serializable Keras layers and models.

    import deepnets
    model = deepnets.build_model("resnet50", num_classes=100, stem="cifar", input_shape=(32, 32, 3))
    deepnets.list_models()
    predictions = deepnets.predict("runs/pets", ["a.jpg", "b.png"], top_k=3)

Importing deepnets registers every layer and model with Keras (package "deepnets"), so
`tf.keras.models.load_model("model.keras")` works without `custom_objects`.

On an x86 CPU where TensorFlow leaves its fast oneDNN kernels off (AVX2 without AVX512-VNNI/BF16
or AMX), `DEEPNETS_FAST_CPU_KERNELS=1` in the environment and `import deepnets` before
TensorFlow turn them on (see `deepnets.cpu_kernels`); without it, importing deepnets warns once
(`SlowKernelsWarning`) when TensorFlow runs without them there.
"""

# First, before anything imports TensorFlow: TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it starts.
from deepnets import cpu_kernels as _cpu_kernels

_cpu_kernels.at_import()

from deepnets import layers, models  # noqa: E402
from deepnets.models.registry import (  # noqa: E402
    build_model,
    get_model_spec,
    list_models,
    model_builder,
    register_model,
)
from deepnets.version import __version__  # noqa: E402


def __getattr__(name: str) -> object:
    # `predict` and `inference` stand on the training library (run folders): import them when
    # first used, so that `import deepnets` stays light.
    if name in ("inference", "predict"):
        import deepnets.inference

        return deepnets.inference if name == "inference" else deepnets.inference.predict
    raise AttributeError(f"module 'deepnets' has no attribute {name!r}")


_cpu_kernels.warn_if_slow()

__all__ = [
    "__version__",
    "build_model",
    "get_model_spec",
    "layers",
    "list_models",
    "model_builder",
    "models",
    "predict",
    "register_model",
]
