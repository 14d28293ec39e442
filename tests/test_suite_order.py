"""The suite's own settings (tests/conftest.py): the longest files it names exist, so that a
renamed or removed file is not silently dropped from the front of the order; the iterators the
tests open run without tf.data's autotuning."""

from pathlib import Path

from conftest import LONGEST_FIRST, pytest_collection_modifyitems

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_every_file_named_longest_first_is_a_test_file_once():
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    missing = [path for path in LONGEST_FIRST if not (REPO_ROOT / path).is_file()]
    assert not missing, f"tests/conftest.py LONGEST_FIRST names files that are gone: {missing}"


def test_the_longest_files_go_first_and_the_others_keep_their_order():
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    names = ["tests/a.py::t1", f"{LONGEST_FIRST[1]}::t", "tests/b.py::t", f"{LONGEST_FIRST[0]}::t"]
    items = [Item(name) for name in names]
    pytest_collection_modifyitems(items)
    assert [item.nodeid for item in items] == [names[3], names[1], names[0], names[2]]


def test_the_tests_iterators_run_without_autotuning():
    import tensorflow as tf

    dataset = tf.data.Dataset.range(4).map(lambda x: x + 1)
    assert dataset._apply_debug_options().options().autotune.enabled is False
    assert [int(x) for x in dataset] == [1, 2, 3, 4]
    tuned = tf.data.Options()
    tuned.autotune.enabled = True  # a dataset that sets it keeps its own
    assert dataset.with_options(tuned)._apply_debug_options().options().autotune.enabled
