"""Early stopping and the best evaluation, with the fake runner: patience counted across a
resume, a stopped run complete on rerun, every best checkpointed; bad metric names refused."""

import pytest
from test_controller import FakeCheckpoints, FakeRunner, run

from deepnets.checks import ArgumentError
from deepnets.training import ConfigError, LoopSettings, TrainConfig
from deepnets.training.loop.stopping import Stopping

# The evaluated loss by step (evaluations every 4 steps): best at 8, then worse and worse.
LOSSES = {4: 0.9, 8: 0.4, 12: 0.5, 16: 0.45, 20: 0.6, 24: 0.7, 28: 0.3, 32: 0.2}
SETTINGS = LoopSettings(total_steps=32, steps_per_epoch=8, steps_per_loop=4, eval_every_steps=4)


class ScriptedRunner(FakeRunner):
    """Evaluates to `LOSSES` at the step it has trained to."""

    def __init__(self, start=0):
        super().__init__()
        self.step = start

    def train(self, step, num_steps):
        self.step = step + num_steps
        return super().train(step, num_steps)

    def evaluate(self):
        self.calls.append(("eval",))
        return {"loss": LOSSES.get(self.step, 1.0), "top1": 1 - LOSSES.get(self.step, 1.0)}


class MemoryStore:
    """The stopping state and the best checkpoint kept in memory (as the run folder keeps them)."""

    def __init__(self):
        self.state = None
        self.best = []

    def load(self):
        return self.state

    def save(self, state):
        self.state = state

    def keep_best(self, step, checkpoint):
        self.best.append((step, checkpoint))
        return f"best/ckpt-{step}"

    def resumed(self, best_step):
        return None if best_step is None else f"best/ckpt-{best_step}"


def launch(store, checkpoints, stop_after=None, **stopping):
    runner = ScriptedRunner(start=checkpoints.saved[-1] if checkpoints.saved else 0)
    stopping = Stopping(store=store, **stopping)
    result, runner, _, recorder = run(SETTINGS, runner, checkpoints, stop_after, stopping=stopping)
    return result, runner, recorder


def test_patience_is_counted_across_a_resume_and_a_stopped_run_is_complete():
    store, checkpoints = MemoryStore(), FakeCheckpoints()
    result, _, _ = launch(store, checkpoints, stop_after=4, metric="val_loss", patience=3)
    assert result.preempted and result.final_step == 16
    assert store.state["evaluations_waited"] == 2  # 12 and 16 did not beat 8
    assert (store.state["best_step"], store.state["best_value"]) == (8, 0.4)

    result, runner, recorder = launch(store, checkpoints, metric="val_loss", patience=3)
    # 20 is the third evaluation without improvement: the run ends there, cleanly.
    assert result.final_step == 20 and not result.preempted
    assert result.stopped_early.startswith("early_stopping_patience=3: val_loss")
    assert checkpoints.saved[-1] == 20
    assert store.state["stopped"]["step"] == 20
    assert (result.best_step, result.best_value) == (8, 0.4)
    assert result.best_checkpoint_path == "best/ckpt-8"
    assert [e for e in recorder.events if e[0] == "eval"] == [("eval", 20)]  # no second eval

    # A rerun finds the run complete: no training, its last state evaluated for the result.
    result, runner, _ = launch(store, checkpoints, metric="val_loss", patience=3)
    assert [c for c in runner.calls if c[0] == "train"] == []
    assert result.final_step == 20 and result.stopped_early == store.state["stopped"]["reason"]


def test_every_new_best_is_checkpointed_and_kept():
    store, checkpoints = MemoryStore(), FakeCheckpoints()
    result, _, _ = launch(store, checkpoints, metric="val_loss")
    assert [step for step, _ in store.best] == [4, 8, 28, 32]
    assert [path for _, path in store.best] == ["ckpt-4", "ckpt-8", "ckpt-28", "ckpt-32"]
    assert checkpoints.saved == [4, 8, 16, 24, 28, 32]  # each epoch, and 4 and 28 for the best
    assert result.stopped_early is None and (result.best_step, result.best_value) == (32, 0.2)


def test_evaluations_after_the_restored_checkpoint_are_forgotten_on_resume():
    # Killed after evaluating 12 and 16 but before checkpointing 16: resumed from 8, they are
    # done again, and the wait counts from the checkpoint's state.
    store = MemoryStore()
    store.state = {"metric": "val_loss", "evaluations": [[4, 0.9], [8, 0.4], [12, 0.5], [16, 0.45]]}
    stopping = Stopping("val_loss", 2, store)
    assert stopping.resume(8) is None
    assert stopping.evaluations == [(4, 0.9), (8, 0.4)] and stopping.waited == 0
    assert stopping.observe(12, {"loss": 0.5}) is False and stopping.waited == 1
    assert stopping.observe(16, {"loss": 0.45}) is False
    assert stopping.patience_exhausted().endswith("in 2 evaluations")


def test_accuracies_are_maximised_and_losses_minimised():
    top1 = Stopping("val_top1")
    loss = Stopping("val_loss")
    for step, value in ((1, 0.5), (2, 0.7), (3, 0.6)):
        top1.observe(step, {"top1": value})
        loss.observe(step, {"loss": value})
    assert top1.best == (2, 0.7) and loss.best == (1, 0.5)


def test_a_bad_metric_name_is_refused_listing_the_allowed_ones():
    with pytest.raises(ArgumentError, match=r"'val_acc'.*'val_loss', 'val_top1', 'val_top5'"):
        Stopping("val_acc")
    with pytest.raises(ConfigError, match=r"keep_best.*'val_acc'.*'val_loss', 'val_top1'") as info:
        TrainConfig(keep_best="val_acc").validate()
    assert info.value.name == "keep_best"


def test_stopping_settings_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="export='best' needs keep_best"):
        TrainConfig(export="best").validate()
    with pytest.raises(ConfigError, match="eval_every_steps=0 evaluates only at its end"):
        TrainConfig(early_stopping_patience=2, eval_every_steps=0).validate()
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        TrainConfig(early_stopping_patience=0).validate()


def test_a_run_folder_keeping_another_metric_is_refused():
    store = MemoryStore()
    store.state = {"metric": "val_top1", "evaluations": [[4, 0.5]]}
    with pytest.raises(ConfigError, match="resume it with keep_best='val_top1'"):
        Stopping("val_loss", store=store).resume(4)
