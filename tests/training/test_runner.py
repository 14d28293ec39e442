"""StepRunner: the compiled steps and the exact evaluation, driven by hand (no controller)."""

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

import deepnets
from deepnets.training import Evaluator, StepRunner, StepSettings, TrainConfig, make_optimizer
from deepnets.training.loop.parts import L2Decay, StepPart

GLOBAL_BATCH = 32


def test_run_steps_trains_and_reports_only_its_own_steps():
    runner = toys.toy_runner(with_eval=False)
    iterator = runner.train_iterator()
    first = runner.run_steps(iterator, 3)
    assert first["examples"] == 3 * GLOBAL_BATCH
    assert int(runner.optimizer.iterations.numpy()) == 3
    second = runner.run_steps(iterator, 5)
    assert second["examples"] == 5 * GLOBAL_BATCH  # metrics restart with every call
    assert int(runner.optimizer.iterations.numpy()) == 8
    assert 0 <= second["top1"] <= 1 and np.isfinite(second["loss"])


def test_train_by_step_numbers_equals_one_iterator_by_hand():
    """`train(step, n)` opens the right epoch's iterator and skips what the epoch already did."""
    by_steps = toys.toy_runner(with_eval=False)
    for step in (0, 3, 8, 11):  # 8 steps per epoch: a new epoch starts at step 8
        by_steps.train(step, 3 if step in (0, 8) else 5)
    by_hand = toys.toy_runner(with_eval=False)
    by_hand.run_steps(by_hand.train_iterator(0), 8)
    by_hand.run_steps(by_hand.train_iterator(1), 8)
    for a, b in zip(by_steps.model.weights, by_hand.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cross the end of epoch 1"):
        by_steps.train(6, 4)


def test_resuming_mid_epoch_skips_the_batches_already_used():
    whole = toys.toy_runner(with_eval=False, seed=3)
    whole.train(0, 8)
    split = toys.toy_runner(with_eval=False, seed=3)
    split.train(0, 5)
    split.input._iterator = None  # as after a restart: the runner must reopen epoch 0 at step 5
    split.train(5, 3)
    for a, b in zip(whole.model.weights, split.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_eval_counts_every_example_once_and_ignores_padding():
    model = toys.toy_model(batch_norm=False)
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, model, toys.NUM_CLASSES)
    # 100 examples in batches of 32: the last batch holds 4 real examples and 28 of padding.
    dataset = strategy.distribute_datasets_from_function(toys.make_eval_input_fn(32))
    got = evaluator.evaluate(dataset)
    images, labels = toys.toy_arrays(100, seed=7)
    logits = model(images).numpy()
    log_probs = tf.nn.log_softmax(logits).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :4]  # k = min(5, 4 classes)
    assert got["examples"] == 100
    assert got["loss"] == pytest.approx(-log_probs[np.arange(100), labels].mean(), rel=1e-5)
    assert got["top1"] == pytest.approx((logits.argmax(1) == labels).mean())
    assert got["top5"] == pytest.approx((top5 == labels[:, None]).any(1).mean())


def test_a_narrow_deepnets_resnet_trains_with_the_runner():
    """The runner trains a real deepnets model: the loss falls and every kernel moves."""
    tf.keras.utils.set_random_seed(0)
    images, labels = toys.toy_arrays(256)
    images = np.tile(images, (1, 2, 2, 1))  # 16x16: room for the ResNet's three downsamplings
    runner = StepRunner(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        lambda: deepnets.build_model(
            "resnet18",
            num_classes=toys.NUM_CLASSES,
            input_shape=(16, 16, 3),
            stem="cifar",
            width=4,
            classifier_activation=None,
        ),
        lambda variables: make_optimizer(TrainConfig(), 0.05, variables),
        lambda ctx, epoch: (
            tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(256, seed=epoch)
            .repeat()
            .batch(32, drop_remainder=True)
        ),
        StepSettings(steps_per_epoch=8, global_batch_size=32, num_classes=toys.NUM_CLASSES),
        parts=[L2Decay(5e-4)],
    )
    before = [v.numpy().copy() for v in runner.model.trainable_variables]
    losses = [runner.train(8 * epoch, 8)["loss"] for epoch in range(4)]
    print("narrow resnet18 losses per epoch:", [round(x, 3) for x in losses])
    assert losses[-1] < 0.7 * losses[0]
    kernels = [
        (b, v) for b, v in zip(before, runner.model.trainable_variables, strict=True) if v.ndim == 4
    ]
    assert len(kernels) >= 17  # stem + 8 blocks x 2 convs (+ projections)
    assert all(not np.allclose(b, v.numpy()) for b, v in kernels)


def test_runner_refuses_an_unbuilt_model():
    with pytest.raises(ValueError, match="unbuilt model"):
        toys.toy_runner(model_fn=lambda: tf.keras.Sequential([tf.keras.layers.Dense(4)]))


def test_weight_decay_in_the_update_equals_the_l2_term_in_the_loss():
    """`g + wd * w` on the kernels gives the weights an L2 loss term gives, step after step."""
    wd, steps = 5e-3, 4
    runner = toys.toy_runner(with_eval=False, parts=[L2Decay(wd)], shuffle=False)
    runner.train(0, steps)
    # The same steps by hand: the L2 term in the loss, SGD with momentum 0.9.
    model = toys.toy_model()
    optimizer = tf.keras.optimizers.SGD(0.05, momentum=0.9)
    data = toys.make_train_input_fn(32, shuffle=False)(_one_pipeline(), 0)
    for images, labels in data.take(steps):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            kernels = [v for v in model.trainable_variables if len(v.shape) >= 2]
            loss += wd * tf.add_n([tf.nn.l2_loss(k) for k in kernels])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    for got, want in zip(runner.model.weights, model.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=1e-6)
    assert not np.allclose(runner.model.weights[0].numpy(), toys.toy_model().weights[0].numpy())


def test_train_top5_is_counted_on_the_last_step_of_a_loop_only():
    runner = toys.toy_runner(with_eval=False)
    metrics = runner.train(0, 4)
    assert metrics["examples"] == 4 * 32  # loss and top-1: every step
    assert float(tf.convert_to_tensor(runner.train_metrics.topk.count)) == 32  # top-5: one step


def _one_pipeline():
    return tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1
    )


def test_flip_averaging_scores_by_the_mean_probability_of_image_and_mirror():
    from deepnets.models import ImagePredictor

    model = toys.toy_model(batch_norm=False)
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, model, toys.NUM_CLASSES, flip=True)
    got = evaluator.evaluate(
        strategy.distribute_datasets_from_function(toys.make_eval_input_fn(32))
    )
    images, labels = toys.toy_arrays(100, seed=7)
    probabilities = (tf.nn.softmax(model(images)) + tf.nn.softmax(model(images[:, :, ::-1]))) / 2
    probabilities = probabilities.numpy()
    assert got["top1"] == pytest.approx((probabilities.argmax(1) == labels).mean())
    assert got["loss"] == pytest.approx(
        -np.log(probabilities[np.arange(100), labels]).mean(), rel=1e-5
    )
    plain = Evaluator(strategy, model, toys.NUM_CLASSES).evaluate(
        strategy.distribute_datasets_from_function(toys.make_eval_input_fn(32))
    )
    assert plain["loss"] != pytest.approx(got["loss"], rel=1e-6)  # the mirror does count
    # The exported predictor averages the same way (on its preprocessed inputs).
    from deepnets.data import Preprocessing

    identity = Preprocessing((8, 8), (0.0,) * 3, (1 / 255,) * 3)  # (x / 255 - 0) * 255 = x
    predictor = ImagePredictor(model, identity, list("abcd"), flip=True)
    np.testing.assert_allclose(predictor.probabilities(images), probabilities, atol=1e-6)
    assert ImagePredictor.from_config(predictor.get_config()).flip is True


def test_multi_crop_averaging_weighs_the_unshifted_views_as_much_as_the_shifted_ones():
    from deepnets.data import Preprocessing
    from deepnets.models import ImagePredictor
    from deepnets.models.view_averaging import shift_images

    model = toys.toy_model(batch_norm=False)
    strategy = tf.distribute.get_strategy()
    evaluator = Evaluator(strategy, model, toys.NUM_CLASSES, flip=True, translate=1)
    got = evaluator.evaluate(
        strategy.distribute_datasets_from_function(toys.make_eval_input_fn(32))
    )
    images, labels = toys.toy_arrays(100, seed=7)

    def pair(x):  # the mean probability of a view and its mirror
        return (tf.nn.softmax(model(x)) + tf.nn.softmax(model(x[:, :, ::-1]))).numpy() / 2

    shifted = (pair(shift_images(images, -1, -1)) + pair(shift_images(images, 1, 1))) / 2
    probabilities = (pair(images) + shifted) / 2
    assert got["top1"] == pytest.approx((probabilities.argmax(1) == labels).mean())
    assert got["loss"] == pytest.approx(
        -np.log(probabilities[np.arange(100), labels]).mean(), rel=1e-5
    )
    flip_only = -np.log(pair(images)[np.arange(100), labels]).mean()
    assert got["loss"] != pytest.approx(flip_only, rel=1e-6)  # the shifted views do count
    identity = Preprocessing((8, 8), (0.0,) * 3, (1 / 255,) * 3)
    predictor = ImagePredictor(model, identity, list("abcd"), flip=True, translate=1)
    np.testing.assert_allclose(predictor.probabilities(images), probabilities, atol=1e-6)
    reloaded = ImagePredictor.from_config(predictor.get_config())
    assert (reloaded.flip, reloaded.translate) == (True, 1)
    with pytest.raises(ValueError, match="translate"):
        ImagePredictor(model, identity, list("abcd"), translate=-2)


class _CountLastSteps(StepPart):
    """Counts the loops' last steps, with tf.cond (`cond`) or with a Python `if` on the tensor."""

    def __init__(self, cond):
        self.cond = cond

    def build(self, setup):
        self.count = tf.Variable(0, trainable=False)

    def observe_gradients(self, grads, frozen, last):
        if self.cond:
            tf.cond(last, lambda: self.count.assign_add(1), lambda: self.count.read_value())
        elif last:  # AutoGraph would make this a tf.cond; the loop is traced without it
            self.count.assign_add(1)


def test_the_loop_is_traced_without_autograph_so_parts_write_tf_cond():
    runner = toys.toy_runner(with_eval=False, parts=[_CountLastSteps(cond=True)])
    iterator = runner.train_iterator()
    for steps in (3, 1, 2):
        runner.run_steps(iterator, steps)
    assert int(runner.parts[0].count.numpy()) == 3  # one last step per loop
    python_if = toys.toy_runner(with_eval=False, parts=[_CountLastSteps(cond=False)])
    with pytest.raises(TypeError, match="as a Python `bool` is not allowed"):
        python_if.run_steps(python_if.train_iterator(), 1)
