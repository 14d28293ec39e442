"""Classifying new images with a trained model: `deepnets.predict` and what it reads.

    import deepnets
    predictions = deepnets.predict("runs/pets", ["a.jpg", "b.png"], top_k=3)

    classifier = deepnets.inference.load_classifier("exported/pets/saved_model")  # load once
    deepnets.predict(classifier, uint8_images)

It sits on top of `deepnets.training` (it reads run folders through its public API) beside
`deepnets.benchmarks`; `deepnets.predict` imports it when first used, so `import deepnets` does
not load the training library.
"""

from deepnets.inference.classifiers import TrainedClassifier, load_classifier, load_predictor
from deepnets.inference.inputs import image_files
from deepnets.inference.predictions import predict
from deepnets.inference.records import Prediction

__all__ = [
    "TrainedClassifier",
    "Prediction",
    "image_files",
    "load_classifier",
    "load_predictor",
    "predict",
]
