"""--lookahead_steps: airbench's lookahead, on its schedule, checkpointed and resumed."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import ConfigError, LoopSettings, TrainConfig, run_loop
from deepnets.training.loop import parts
from deepnets.training.optimization.averaging import Lookahead


def float_weights(model):
    return [w.numpy() for w in model.weights if tf.as_dtype(w.dtype).is_floating]


def slow_weights(lookahead):
    return [s.numpy() for s in lookahead.state.slow]


def test_the_weights_are_pulled_back_every_few_steps_by_the_cubic_schedule():
    every, decay, total = 2, 0.9, 6
    model = toys.toy_model()
    lookahead = Lookahead(model, every=every, decay=decay, total_steps=total)
    weights = [w for w in model.weights if tf.as_dtype(w.dtype).is_floating]
    slow = float_weights(model)  # the slow weights start as the model's
    rng = np.random.default_rng(0)
    for t in range(1, total + 1):
        for w in weights:  # stands for an optimizer step
            w.assign(w.numpy() + rng.normal(size=w.shape).astype(np.float32))
        trained = float_weights(model)
        lookahead.update(tf.constant(t, tf.int64))
        if t % every:  # not due: nothing moves
            for a, b in zip(float_weights(model), trained, strict=True):
                np.testing.assert_array_equal(a, b)
            continue
        d = decay**every * (t / total) ** 3
        slow = [d * s + (1 - d) * w for s, w in zip(slow, trained, strict=True)]
        expected = slow
        for got, want in zip(float_weights(model), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        for got, want in zip(slow_weights(lookahead), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        # the pull is real: the weights are not the trained ones (d > 0.02 from t = 2 on)
        assert not np.allclose(float_weights(model)[0], trained[0], atol=1e-3)
    assert lookahead.decay_at(tf.constant(total)).numpy() == pytest.approx(decay**every)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(every=0, decay=0.9, total_steps=4), "every"),
        (dict(every=2, decay=1.0, total_steps=4), "decay"),
        (dict(every=2, decay=0.9, total_steps=0), "total_steps"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Lookahead(toys.toy_model(), **kwargs)


def test_config_rejects_a_bad_lookahead_naming_the_field():
    for field, value in (("lookahead_steps", -1), ("lookahead_decay", 1.0)):
        with pytest.raises(ConfigError) as info:
            dataclasses.replace(TrainConfig(), **{field: value}).validate()
        assert info.value.name == field


def test_a_resumed_run_continues_the_same_slow_weights(tmp_path):
    # Updates every 3 steps and checkpoints every 4: the checkpoint at step 8 falls between
    # updates, when the slow weights differ from the weights, so resuming needs them.
    settings = dict(steps_per_epoch=8, steps_per_loop=4, checkpoint_every_steps=4)

    def options():  # a part serves one runner: new ones for each
        return dict(with_eval=False, parts=[parts.Lookahead(3, 0.8)], total_steps=16)

    whole = toys.toy_runner(**options())
    run_loop(whole, LoopSettings(total_steps=16, **settings), model_dir=str(tmp_path / "whole"))
    first = toys.toy_runner(**options())
    run_loop(first, LoopSettings(total_steps=8, **settings), model_dir=str(tmp_path / "split"))
    lookahead = first.part(parts.Lookahead).lookahead
    assert not np.allclose(slow_weights(lookahead)[0], float_weights(first.model)[0])
    second = toys.toy_runner(**options())
    result = run_loop(
        second, LoopSettings(total_steps=16, **settings), model_dir=str(tmp_path / "split")
    )
    assert result.resumed_from.endswith("ckpt-8")
    for a, b in zip(float_weights(second.model), float_weights(whole.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and the lookahead changed the run: without it the weights end elsewhere
    plain = toys.toy_runner(with_eval=False, total_steps=16)
    run_loop(plain, LoopSettings(total_steps=16, **settings), model_dir=str(tmp_path / "plain"))
    assert not np.allclose(float_weights(plain.model)[0], float_weights(whole.model)[0], atol=1e-4)


def test_the_runner_needs_the_runs_length():
    with pytest.raises(ValueError, match="total_steps"):
        toys.toy_runner(with_eval=False, parts=[parts.Lookahead(5)])
