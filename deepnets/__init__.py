"""deepnets: AlexNet, VGG and ResNet as reusable, serializable Keras layers and models.

    import deepnets
    model = deepnets.build_model("resnet50", num_classes=100, stem="cifar", input_shape=(32, 32, 3))
    deepnets.list_models()

Importing deepnets registers every layer and model with Keras (package "deepnets"), so
`tf.keras.models.load_model("model.keras")` works without `custom_objects`.
"""

from deepnets import layers, models
from deepnets.models.registry import (
    build_model,
    get_model_spec,
    list_models,
    model_builder,
    register_model,
)

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "build_model",
    "get_model_spec",
    "layers",
    "list_models",
    "model_builder",
    "models",
    "register_model",
]
