"""Datasets by name: shapes10, the tfds path (mocked, no network) and the missing-dataset errors."""

from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import deepnets.data
from deepnets.data import (
    DatasetFacts,
    DatasetUnavailableError,
    describe_dataset,
    load_split,
    open_dataset,
    shapes10_arrays,
)


def _mock_tfds(num_examples: int):
    # USE_CODE: the dataset metadata files are not available offline.
    return tfds.testing.mock_data(
        num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )


def test_shapes10_split_yields_uint8_images_and_int64_labels_in_order():
    dataset, info = load_split("shapes10", "test")
    assert dataset.element_spec == (
        tf.TensorSpec((32, 32, 3), tf.uint8),
        tf.TensorSpec((), tf.int64),
    )
    images, labels = shapes10_arrays("test")
    first = [(image.numpy(), int(label)) for image, label in dataset.take(3)]
    for index, (image, label) in enumerate(first):
        np.testing.assert_array_equal(image, images[index])
        assert label == labels[index]
    assert info.eval_examples == 2000 == int(dataset.cardinality())
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert info.class_names[0] == "disk" and len(info.class_names) == 10
    assert len(info.preprocessing.mean) == len(info.preprocessing.std) == 3


def test_one_facts_type_describes_a_dataset_whichever_function_reads_it():
    facts = open_dataset("shapes10").facts
    assert load_split("shapes10", "test")[1] == facts == describe_dataset("shapes10")
    assert (facts.image_shape, facts.input_shape) == ((32, 32, 3), (32, 32, 3))
    assert (facts.train_examples, facts.eval_examples) == (10_000, 2_000)
    assert not hasattr(deepnets.data, "DatasetInfo")  # merged into DatasetFacts


def test_dataset_facts_are_frozen():
    _, info = load_split("shapes10", "train")
    assert isinstance(info, DatasetFacts)
    with pytest.raises(AttributeError):
        info.num_classes = 3


def test_tfds_cifar10_through_mock_data(tmp_path):
    with _mock_tfds(num_examples=12):
        dataset, info = load_split("cifar10", "train", data_dir=str(tmp_path))
        examples = list(dataset)
    assert len(examples) == 12 == info.train_examples
    image, label = examples[0]
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8
    assert label.dtype == tf.int64 and 0 <= int(label) < 10
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert info.preprocessing.mean == (0.4914, 0.4822, 0.4465)


def test_test_split_means_validation_where_there_is_no_test_split(tmp_path):
    with _mock_tfds(num_examples=3):
        dataset, info = load_split("imagenette", "test", data_dir=str(tmp_path))
        image, _ = next(iter(dataset))
    assert info.eval_split == "validation"
    assert info.image_shape == (None, None, 3)
    assert image.shape.rank == 3 and image.shape[-1] == 3


def test_missing_dataset_without_download_names_dataset_dir_and_remedy(tmp_path):
    with pytest.raises(DatasetUnavailableError) as caught:
        load_split("cifar10", "train", data_dir=str(tmp_path), download=False)
    message = str(caught.value)
    assert "'cifar10'" in message
    assert str(tmp_path) in message
    assert "tfds build cifar10" in message
    assert "shapes10" in message
    assert isinstance(caught.value, ValueError)


def test_failed_download_becomes_one_clear_error(tmp_path):
    offline = ConnectionError("no route to host")
    with mock.patch.object(tfds.core.DatasetBuilder, "download_and_prepare", side_effect=offline):
        with pytest.raises(DatasetUnavailableError, match="ConnectionError: no route") as caught:
            load_split("cifar100", "train", data_dir=str(tmp_path))
    assert caught.value.__cause__ is offline
    assert "'cifar100'" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_unknown_name_says_it_is_not_a_tfds_dataset(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="not a tfds dataset") as caught:
        load_split("cifar11_typo", "train", data_dir=str(tmp_path))
    assert "'cifar11_typo'" in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_an_unknown_dataset_is_one_clear_error_from_open_dataset_too(tmp_path):
    with pytest.raises(DatasetUnavailableError) as caught:
        open_dataset("cifar11_typo", data_dir=str(tmp_path))
    first_line = str(caught.value).splitlines()[0]
    assert first_line == "Dataset 'cifar11_typo' is not available: it is not a tfds dataset."
    assert "shapes10" in str(caught.value)  # and what works without a download


def test_one_tfds_source_gives_facts_examples_and_both_pipelines_finding_the_builder_once(
    tmp_path,
):
    with _mock_tfds(num_examples=10):
        with mock.patch.object(tfds, "builder", wraps=tfds.builder) as builder:
            source = open_dataset("cifar10", data_dir=str(tmp_path))
            facts = source.facts
            train = list(source.train_dataset(4, seed=0).take(3))
            evaluation = list(source.eval_dataset(4, pad_to_full_batches=True))
            examples = list(source.examples("test"))
    assert builder.call_count == 1  # found (and prepared) when opened; never again by name
    assert (facts.train_split, facts.eval_split) == ("train", "test")
    assert facts.num_classes == 10 and facts.input_shape == (32, 32, 3)
    assert [images.shape for images, _ in train] == [(4, 32, 32, 3)] * 3
    assert sum(weights.numpy().sum() for _, _, weights in evaluation) == facts.eval_examples
    assert len(examples) == facts.eval_examples
