"""shapes10 is learnable: a small deepnets model fed by the training pipeline beats chance."""

import time

import tensorflow as tf

import deepnets
from deepnets.data import make_eval_dataset, make_train_dataset


def test_small_vgg_reaches_well_above_chance_on_shapes10_in_seconds():
    tf.keras.utils.set_random_seed(0)
    model = deepnets.build_model(
        "vgg11_bn",
        width=8,
        head="cifar",
        dropout=0.0,
        num_classes=10,
        input_shape=(32, 32, 3),
        classifier_activation=None,
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train = make_train_dataset("shapes10", 64, seed=0, augment=False)
    test = make_eval_dataset("shapes10", 500)

    start = time.perf_counter()
    model.fit(train, steps_per_epoch=150, epochs=1, shuffle=False, verbose=0)  # 0.96 epochs
    _, accuracy = model.evaluate(test, verbose=0)
    seconds = time.perf_counter() - start
    print(f"shapes10 test accuracy after 150 steps: {accuracy:.3f} ({seconds:.1f} s)")
    assert accuracy > 0.50  # chance is 0.10; measured 0.665 (0.751 after 250 steps)
