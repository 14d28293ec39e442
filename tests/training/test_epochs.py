"""EpochInput: which batches each run of steps gets, and how few iterators it opens for them."""

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import LoopReport, LoopSettings
from deepnets.training.loop import epochs as epochs_module
from deepnets.training.loop.epochs import EpochInput, epochs_begun
from deepnets.training.reports.standard_actions import ProgressPrinter

STEPS_PER_EPOCH = 4


def tagged_input_fn(ctx: tf.distribute.InputContext, epoch: int) -> tf.data.Dataset:
    """Batches whose one value is epoch * 100 + position, repeated forever (like training)."""
    return tf.data.Dataset.range(10).map(lambda i: tf.reshape(epoch * 100 + i, [1])).repeat()


def batches(epoch_input: EpochInput, loops: list[tuple[int, int]]) -> list[int]:
    """The batch values the given (step, num_steps) loops read, in order."""
    seen = []
    for step, num_steps in loops:
        iterator = epoch_input.for_steps(step, num_steps)
        seen += [int(next(iterator).numpy()[0]) for _ in range(num_steps)]
    return seen


def whole_run(steps: int, loop: int) -> list[tuple[int, int]]:
    """(step, num_steps) loops of `loop` steps that never cross an epoch's end."""
    loops, step = [], 0
    while step < steps:
        num_steps = min(loop, STEPS_PER_EPOCH - step % STEPS_PER_EPOCH, steps - step)
        loops.append((step, num_steps))
        step += num_steps
    return loops


def expected(epoch: int, first: int, count: int) -> list[int]:
    return [epoch * 100 + i for i in range(first, first + count)]


def test_one_iterator_runs_through_the_epochs_of_a_run_with_each_epochs_own_batches():
    strategy = tf.distribute.get_strategy()
    run = EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH, total_steps=3 * STEPS_PER_EPOCH)
    seen = batches(run, whole_run(3 * STEPS_PER_EPOCH, loop=3))
    assert seen == expected(0, 0, 4) + expected(1, 0, 4) + expected(2, 0, 4)
    assert run.iterators_opened == 1

    per_epoch = EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH)  # no total: as before
    assert batches(per_epoch, whole_run(3 * STEPS_PER_EPOCH, loop=3)) == seen
    assert per_epoch.iterators_opened == 3


def test_a_jump_reopens_at_the_right_epoch_and_skips_what_it_has_done():
    run = EpochInput(tf.distribute.get_strategy(), tagged_input_fn, STEPS_PER_EPOCH, total_steps=12)
    assert batches(run, [(0, 2)]) == expected(0, 0, 2)
    # As after a restart from the checkpoint of step 6: epoch 1, two steps done.
    assert batches(run, [(6, 2), (8, 4)]) == expected(1, 2, 2) + expected(2, 0, 4)
    assert run.iterators_opened == 2


def test_an_iterator_spans_at_most_the_capped_number_of_epochs(monkeypatch):
    monkeypatch.setattr(epochs_module, "MAX_EPOCHS_PER_ITERATOR", 2)
    run = EpochInput(tf.distribute.get_strategy(), tagged_input_fn, STEPS_PER_EPOCH, total_steps=20)
    seen = batches(run, whole_run(20, loop=4))
    assert seen == [value for e in range(5) for value in expected(e, 0, 4)]
    assert run.iterators_opened == 3  # epochs 1-2, 3-4, 5


def test_a_large_dataset_gets_fewer_epochs_per_iterator(monkeypatch):
    monkeypatch.setattr(epochs_module, "MAX_EXAMPLES_PER_ITERATOR", 100)
    strategy = tf.distribute.get_strategy()
    # 4 steps of 10 examples per epoch: two epochs fit in 100 examples.
    run = EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH, 20, global_batch_size=10)
    assert run.max_epochs == 2
    assert batches(run, whole_run(20, loop=4)) == [v for e in range(5) for v in expected(e, 0, 4)]
    assert run.iterators_opened == 3
    huge = EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH, 20, global_batch_size=1000)
    assert huge.max_epochs == 1  # never less than one epoch


def test_a_run_that_ends_mid_epoch_still_reads_whole_batches_to_its_end():
    run = EpochInput(tf.distribute.get_strategy(), tagged_input_fn, STEPS_PER_EPOCH, total_steps=6)
    assert batches(run, whole_run(6, loop=4)) == expected(0, 0, 4) + expected(1, 0, 2)
    assert run.iterators_opened == 1


def test_bad_arguments_name_themselves():
    strategy = tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH, total_steps=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        EpochInput(strategy, tagged_input_fn, 0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        EpochInput(strategy, tagged_input_fn, STEPS_PER_EPOCH).iterator(0, 0, epochs=0)


def test_a_runner_given_its_total_trains_exactly_as_one_iterator_per_epoch():
    loops = [(0, 3), (3, 5), (8, 3), (11, 5), (16, 8)]  # 8 steps per epoch, three epochs
    continued = toys.toy_runner(with_eval=False, seed=5, total_steps=24)
    for step, num_steps in loops:
        continued.train(step, num_steps)
    per_epoch = toys.toy_runner(with_eval=False, seed=5)
    for step, num_steps in loops:
        per_epoch.train(step, num_steps)
    assert continued.input.iterators_opened == 1
    assert per_epoch.input.iterators_opened == 3
    for a, b in zip(continued.model.weights, per_epoch.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "total_steps, steps_per_epoch, epochs", [(1, 4, 1), (4, 4, 1), (5, 4, 2), (12, 4, 3), (7, 1, 7)]
)
def test_the_epoch_count_counts_a_partial_last_epoch_everywhere(
    total_steps, steps_per_epoch, epochs, capsys
):
    assert epochs_begun(total_steps, steps_per_epoch) == epochs
    # The controller's schedule, the progress line and the input's last epoch use that one count.
    assert LoopSettings(total_steps, steps_per_epoch).total_epochs == epochs
    metrics = {"loss": 1.0, "top1": 0.5}
    ProgressPrinter().on_train_loop(
        LoopReport(total_steps, 1, total_steps, steps_per_epoch, metrics, None, 1.0, 0.0)
    )
    assert f"| epoch {epochs}/{epochs} |" in capsys.readouterr().out
    epoch_input = EpochInput(None, tagged_input_fn, steps_per_epoch, total_steps)
    epoch_input.iterator = lambda epoch, skip, count: (epoch, skip, count)  # no pipeline needed
    assert epoch_input.for_steps(0, 1) == (0, 0, epochs)
