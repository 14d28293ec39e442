"""`train(cfg)`: one call from a `TrainConfig` to a trained, checkpointed, exported model.

It wires the pieces: strategy, the deepnets model registry, the deepnets input pipelines and the
`Trainer`. The loop itself never imports a model or a dataset; this module is the one place that
does.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from deepnets.training.config import TrainConfig
from deepnets.training.loop import Trainer
from deepnets.training.results import TrainResult
from deepnets.training.strategy import is_chief, make_strategy

keras = tf.keras


def epoch_seed(seed: int | None, epoch: int) -> int | None:
    """The input-pipeline seed of one epoch, derived from the run's seed.

    Args:
        seed: the run's seed (None: unseeded).
        epoch: 0-based epoch index.

    Returns:
        A seed in [0, 2**31), different for every epoch, or None.
    """
    if seed is None:
        return None
    return (seed * 1_000_003 + epoch * 7_919 + 1) % (2**31 - 1)


def build_model_from_config(cfg: TrainConfig, num_classes: int) -> keras.Model:
    """Builds `cfg.model` from the deepnets registry with a logits output.

    Args:
        cfg: reads `model` and `model_overrides`.
        num_classes: size of the classifier.

    Returns:
        An unbuilt Keras model whose call returns logits.

    Raises:
        ValueError: if `model_overrides` asks for another class count or a final activation.
    """
    import deepnets  # deferred: the models package imports this package's siblings

    overrides: dict[str, Any] = dict(cfg.model_overrides)
    if overrides.pop("classifier_activation", None) is not None:
        raise ValueError(
            "TrainConfig.model_overrides['classifier_activation'] must be None (or absent): "
            "the training loss is computed from logits."
        )
    requested = overrides.pop("num_classes", num_classes)
    if requested != num_classes:
        raise ValueError(
            f"TrainConfig.model_overrides['num_classes']={requested!r} does not match the "
            f"{num_classes} classes of dataset {cfg.dataset!r}."
        )
    return deepnets.build_model(
        cfg.model, num_classes=num_classes, classifier_activation=None, **overrides
    )


def model_input_shape(cfg: TrainConfig) -> tuple[int, int, int]:
    """The (height, width, channels) the model of `cfg` sees: what the eval pipeline yields.

    The pipeline decides: the dataset's own size, `cfg.image_size`, or a default for datasets
    whose images vary in size.
    """
    from deepnets import data

    dataset = data.make_eval_dataset(
        cfg.dataset, 1, image_size=cfg.image_size, data_dir=cfg.data_dir, download=cfg.download
    )
    return tuple(int(d) for d in dataset.element_spec[0].shape[1:])


def train(cfg: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Trains `cfg.model` on `cfg.dataset` as the config says, resuming from `cfg.model_dir`.

    Writes into `cfg.model_dir`: config.json, checkpoints/, tensorboard/, metrics.csv,
    curves.png and, when the run completes, final.keras and saved_model/.

    Args:
        cfg: the run's config (validated here).
        strategy: a strategy to use instead of `make_strategy(cfg)`.

    Returns:
        A `TrainResult`; `preempted` is True when SIGTERM stopped the run after a checkpoint.

    Raises:
        ValueError: for an invalid config, or a dataset too small for one global batch.
        NonFiniteLossError: when the loss becomes NaN/Inf (the last good checkpoint is kept).
    """
    from deepnets import data  # deferred so the library imports without the data package

    cfg.validate()
    strategy = strategy or make_strategy(cfg)
    _, info = data.load_split(cfg.dataset, "train", data_dir=cfg.data_dir, download=cfg.download)
    steps_per_epoch = int(info.num_examples) // cfg.global_batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"TrainConfig.global_batch_size={cfg.global_batch_size} is larger than the "
            f"{info.num_examples} training examples of {cfg.dataset!r}."
        )
    eval_batch_size = cfg.eval_batch_size or cfg.global_batch_size

    def train_input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
        return data.make_train_dataset(
            cfg.dataset,
            cfg.global_batch_size,
            input_context=ctx,
            image_size=cfg.image_size,
            data_dir=cfg.data_dir,
            download=cfg.download,
            seed=epoch_seed(cfg.seed, epoch),
        )

    def eval_input_fn(ctx: tf.distribute.InputContext | None) -> tf.data.Dataset:
        return data.make_eval_dataset(
            cfg.dataset,
            eval_batch_size,
            input_context=ctx,
            image_size=cfg.image_size,
            data_dir=cfg.data_dir,
            download=cfg.download,
            pad_to_full_batches=True,
        )

    input_shape = model_input_shape(cfg)

    if is_chief(strategy):
        os.makedirs(cfg.model_dir, exist_ok=True)
        with open(os.path.join(cfg.model_dir, "config.json"), "w") as f:
            f.write(cfg.to_json() + "\n")
    trainer = Trainer(
        cfg,
        strategy,
        lambda: build_model_from_config(cfg, info.num_classes),
        train_input_fn,
        steps_per_epoch=steps_per_epoch,
        input_shape=input_shape,
        num_classes=info.num_classes,
        eval_input_fn=eval_input_fn,
    )
    result = trainer.fit()
    if not result.preempted:
        result.final_model_path, result.saved_model_path = trainer.save_final_model()
        if trainer.chief:
            print(f"Saved {result.final_model_path}", flush=True)
    return result
