"""The model a run starts from: built from the plan, its data-initialized layers adapted to the
first training images, then the weights of `init_weights` copied in, when the run starts fresh."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from deepnets.layers.whitening import data_initialized_layers
from deepnets.training.config import ConfigError
from deepnets.training.run.plan import RunPlan
from deepnets.training.run_folder.folder import RunFolder
from deepnets.training.run_folder.initial_weights import initialize_weights

keras = tf.keras

WHITENING_IMAGES = 5000  # images a `PatchWhitening` layer is adapted to (airbench's number)
WHITENING_BATCH = 500


def new_model(
    plan: RunPlan, sample_images: Callable[[], tf.data.Dataset], adapted: dict[str, list]
) -> keras.Model:
    """The plan's model, with its starting weights when the run starts fresh (a resumed run
    takes every weight from its checkpoint): the layers set from data (`PatchWhitening`)
    adapted to the first training images, then the weights of `init_weights`, which replace
    those it has.

    Args:
        plan: the run's plan.
        sample_images: makes the dataset of training batches to adapt such layers to.
        adapted: the weights of such layers by layer name, filled by the first call and
            copied by the later ones (the averaged model is made by this function too).
    """
    model = plan.model.build()
    if RunFolder(plan.model_dir).has_checkpoints():
        return model
    adapt_to_data(model, sample_images, adapted, plan.chief)  # init_weights may replace them
    path = plan.config.init_weights
    if path is None:
        return model
    try:
        report = initialize_weights(model, path)
    except (ValueError, OSError) as err:
        raise ConfigError("init_weights", path, reason=str(err).strip().splitlines()[0]) from err
    if plan.chief:
        new = f"; new: {', '.join(report['skipped'])}" if report["skipped"] else ""
        print(f"Initialized {len(report['copied'])} layers from {path}{new}.", flush=True)
    return model


def adapt_to_data(
    model: keras.Model,
    sample_images: Callable[[], tf.data.Dataset],
    adapted: dict[str, list],
    chief: bool,
) -> None:
    """Sets the weights of the model's data-initialized layers (see `new_model`)."""
    layers = data_initialized_layers(model)
    for layer in layers:
        if layer.name in adapted:
            layer.set_weights(adapted[layer.name])
            continue
        used = layer.adapt(sample_images(), max_images=WHITENING_IMAGES)
        adapted[layer.name] = layer.get_weights()
        if chief:
            print(f"Set {layer.name} from the patches of {used} training images.", flush=True)
