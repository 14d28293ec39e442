"""The tutorial's recipe, shared by the experiments that measure it: keras.applications' model
with no weights, inputs / 255, Adam 1e-3, batch 32, no augmentation."""

from __future__ import annotations

from typing import Any

TUTORIAL_BATCH = 32
TUTORIAL_LEARNING_RATE = 1e-3


def tutorial_data(folder: str, batch_size: int = TUTORIAL_BATCH) -> tuple[Any, Any, Any]:
    """The folder's training images in the tutorial's pipeline (pixels / 255, batch 32 unless
    `batch_size`, no augmentation) and its held-out images in batches of 500.

    Returns:
        (source, train dataset, held-out dataset); `source.facts` has the counts.
    """
    from deepnets.data import Preprocessing, open_dataset

    scale = Preprocessing((32, 32), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # pixels / 255
    source = open_dataset(folder, preprocessing=scale, validation_split=0.1)
    train_data = source.train_dataset(batch_size, seed=0, augment=False)
    return source, train_data, source.eval_dataset(500)


def tutorial_model(application: str, num_classes: int, optimizer: Any = None) -> Any:
    """keras.applications' `application` ("VGG16", "ResNet50") for 32x32 images with its own
    initialization and no weights, compiled as the tutorial does (Adam 1e-3 unless `optimizer`).
    """
    import tensorflow as tf

    model = getattr(tf.keras.applications, application)(
        weights=None, input_shape=(32, 32, 3), classes=num_classes
    )
    model.compile(
        optimizer=optimizer or tf.keras.optimizers.Adam(TUTORIAL_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
