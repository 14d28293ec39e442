"""RandAugment, random erasing, MixUp and CutMix in the training pipeline, and soft labels."""

import numpy as np
import pytest
import tensorflow as tf

from deepnets.data import Augmentation, make_train_dataset
from deepnets.training.loop.metrics import ClassificationMetrics
from deepnets.training.optimization.optimizers import classification_loss


def first_batch(augmentation, batch=64, seed=3):
    dataset = make_train_dataset(
        "shapes10", batch, seed=seed, shuffle_buffer=500, augmentation=augmentation
    )
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy()


def test_mixup_makes_probability_labels_that_mix_two_classes_like_the_images():
    plain_images, plain_labels = first_batch(None)
    images, labels = first_batch(Augmentation(mixup_alpha=1.0))
    assert plain_labels.shape == (64,) and labels.shape == (64, 10) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert ((labels > 0) & (labels < 1)).any(axis=1).mean() > 0.5  # most examples are mixed
    assert (np.count_nonzero(labels > 1e-6, axis=1) <= 2).all()  # of two classes at most
    # Each example keeps its own class among the two it mixes.
    assert (labels[np.arange(64), plain_labels] > 0).all()


def test_cutmix_pastes_a_box_and_weighs_the_labels_by_its_area():
    plain_images, plain_labels = first_batch(None)
    images, labels = first_batch(Augmentation(cutmix_alpha=1.0))
    changed = np.abs(images - plain_images).max(axis=-1) > 1e-6  # [b, h, w]
    share = changed.mean(axis=(1, 2))
    kept = labels[np.arange(64), plain_labels]
    mixed = (share > 0) & (kept < 1)
    assert mixed.mean() > 0.5
    # Where the pasted image came from another class, the label kept is the area not pasted.
    np.testing.assert_allclose(kept[mixed], 1 - share[mixed], atol=0.08)


def test_randaugment_and_erasing_change_images_not_labels_or_shapes():
    plain_images, plain_labels = first_batch(None)
    images, labels = first_batch(Augmentation(randaugment_ops=2, random_erasing=1.0))
    assert images.shape == plain_images.shape and np.isfinite(images).all()
    np.testing.assert_array_equal(labels, plain_labels)
    assert np.abs(images - plain_images).mean() > 0.05


def test_soft_labels_give_the_soft_cross_entropy_and_count_their_likeliest_class():
    logits = tf.constant([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    soft = tf.constant([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]])
    expected = -(soft * tf.nn.log_softmax(logits)).numpy().sum(axis=1)
    np.testing.assert_allclose(classification_loss(soft, logits), expected, rtol=1e-6)
    smoothed = soft * 0.9 + 0.1 / 3
    np.testing.assert_allclose(
        classification_loss(soft, logits, 0.1),
        -(smoothed * tf.nn.log_softmax(logits)).numpy().sum(axis=1),
        rtol=1e-6,
    )
    metrics = ClassificationMetrics(3, prefix="t")
    metrics.update(soft, logits, classification_loss(soft, logits))
    assert metrics.result()["top1"] == pytest.approx(1.0)  # argmax 0 and 2 are both right


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="random_erasing"):
        Augmentation(random_erasing=1.5)
    with pytest.raises(ValueError, match="randaugment_ops"):
        Augmentation(randaugment_ops=-1)


def test_a_run_trains_on_mixed_batches(tmp_path):
    from deepnets.training import TrainConfig, train

    result = train(
        TrainConfig(
            model="resnet18",
            model_overrides={"stem": "cifar", "width": 4},
            model_dir=str(tmp_path),
            epochs=None,
            train_steps=4,
            steps_per_loop=2,
            global_batch_size=32,
            eval_batch_size=1000,
            mixup_alpha=0.4,
            cutmix_alpha=1.0,
            randaugment_ops=1,
            label_smoothing=0.1,
            export_saved_model=False,
        )
    )
    assert result.final_step == 4 and np.isfinite(result.train_metrics["loss"])
    assert result.eval_metrics["examples"] == 2000
