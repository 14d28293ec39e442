"""The controller's schedule, with a fake runner: no model is compiled, no tensor is made."""

import math

import pytest

from deepnets.training import Action, Controller, LoopSettings, NonFiniteLossError


class FakeRunner:
    """Records what the controller asks for; the loss is 1/step, or NaN from `nan_at`."""

    global_batch_size = 8

    def __init__(self, has_eval=True, nan_at=None):
        self.has_eval = has_eval
        self.nan_at = nan_at
        self.calls = []
        self.restores = 0

    def train(self, step, num_steps):
        self.calls.append(("train", step, num_steps))
        end = step + num_steps
        bad = self.nan_at is not None and step < self.nan_at <= end
        loss = math.nan if bad else 1.0 / end
        return {"loss": loss, "top1": 0.5, "top5": 0.9, "examples": num_steps * 8}

    def evaluate(self):
        self.calls.append(("eval",))
        return {"loss": 0.5, "top1": 0.75, "top5": 1.0, "examples": 100}

    def restored(self):
        self.restores += 1

    def sync_state(self):
        self.calls.append(("sync",))


class FakeCheckpoints:
    def __init__(self, start=0):
        self.saved = [start] if start else []

    @property
    def latest(self):
        return f"ckpt-{self.saved[-1]}" if self.saved else None

    def restore_latest(self):
        return (self.latest, self.saved[-1]) if self.saved else (None, 0)

    def save(self, step):
        self.saved.append(step)
        return self.latest


class Recorder(Action):
    def __init__(self):
        self.events = []

    def on_start(self, step, total_steps, resumed_from):
        self.events.append(("start", step, resumed_from))

    def on_train_loop(self, report):
        self.events.append(("train", report.step, report.num_steps, report.log))

    def on_eval(self, step, metrics):
        self.events.append(("eval", step))

    def on_checkpoint(self, step, path):
        self.events.append(("checkpoint", step))

    def on_stop(self, step, path):
        self.events.append(("stop", step, path))

    def on_end(self, result):
        self.events.append(("end", result.final_step))


def run(settings, runner=None, checkpoints=None, stop_after=None, **options):
    runner = runner or FakeRunner()
    checkpoints = checkpoints or FakeCheckpoints()
    recorder = Recorder()
    loops = []

    def stop_requested():
        loops.append(1)
        return stop_after is not None and len(loops) >= stop_after

    controller = Controller(
        runner,
        settings,
        checkpoints,
        [recorder],
        learning_rate=lambda step: 0.1 / (step + 1),
        stop_requested=stop_requested,
        model_dir="run",
        **options,
    )
    return controller.run(), runner, checkpoints, recorder


def test_loops_stop_at_every_epoch_eval_and_checkpoint_boundary():
    settings = LoopSettings(
        total_steps=20, steps_per_epoch=8, steps_per_loop=5, checkpoint_every_steps=6
    )
    result, runner, checkpoints, recorder = run(settings)
    trains = [c[1:] for c in runner.calls if c[0] == "train"]
    # Boundaries: loops of at most 5, epochs end at 8 and 16, checkpoints at 6, 12, 18.
    assert trains == [(0, 5), (5, 1), (6, 2), (8, 4), (12, 4), (16, 2), (18, 2)]
    assert checkpoints.saved == [6, 12, 18, 20]
    evals = [e[1] for e in recorder.events if e[0] == "eval"]
    assert evals == [8, 16, 20]  # each epoch end, and the end of the run
    assert result.final_step == 20 and not result.preempted
    assert result.eval_metrics["top1"] == 0.75 and result.checkpoint_path == "ckpt-20"
    # Replica state is averaged before every save (and evaluation is the runner's business).
    assert runner.calls.count(("sync",)) == len(checkpoints.saved)
    assert runner.restores == 0  # nothing was restored


def test_resumes_from_the_restored_step_and_does_not_redo_it():
    settings = LoopSettings(total_steps=12, steps_per_epoch=4, steps_per_loop=4)
    result, runner, checkpoints, recorder = run(settings, checkpoints=FakeCheckpoints(start=8))
    assert recorder.events[0] == ("start", 8, "ckpt-8")
    assert [c for c in runner.calls if c[0] == "train"] == [("train", 8, 4)]
    assert checkpoints.saved == [8, 12]
    assert result.resumed_from == "ckpt-8" and result.final_step == 12
    assert runner.restores == 1  # told once that a checkpoint restored its state


def test_explicit_eval_period_and_final_eval_once():
    settings = LoopSettings(
        total_steps=10, steps_per_epoch=100, steps_per_loop=10, eval_every_steps=4
    )
    _, runner, checkpoints, recorder = run(settings)
    assert [e[1] for e in recorder.events if e[0] == "eval"] == [4, 8, 10]
    assert runner.calls.count(("eval",)) == 3
    assert checkpoints.saved == [10]  # the epoch never ends: only the final checkpoint


def test_eval_period_zero_evaluates_only_at_the_end():
    settings = LoopSettings(total_steps=12, steps_per_epoch=4, steps_per_loop=3, eval_every_steps=0)
    _, runner, checkpoints, recorder = run(settings)
    assert [e[1] for e in recorder.events if e[0] == "eval"] == [12]
    assert checkpoints.saved == [4, 8, 12]  # checkpoints keep their period (every epoch)
    trains = [c[1:] for c in runner.calls if c[0] == "train"]
    assert trains == [(0, 3), (3, 1), (4, 3), (7, 1), (8, 3), (11, 1)]


def test_no_eval_set_means_no_evaluation():
    settings = LoopSettings(total_steps=6, steps_per_epoch=3, steps_per_loop=3)
    result, runner, _, _ = run(settings, runner=FakeRunner(has_eval=False))
    assert ("eval",) not in runner.calls and result.eval_metrics == {}


def test_stop_request_checkpoints_the_current_step_and_returns_preempted():
    settings = LoopSettings(total_steps=100, steps_per_epoch=50, steps_per_loop=5)
    result, runner, checkpoints, recorder = run(settings, stop_after=3)
    assert result.preempted and result.final_step == 15
    assert checkpoints.saved == [15]
    assert ("stop", 15, "ckpt-15") in recorder.events
    assert not any(e[0] == "eval" for e in recorder.events)  # a stop does not evaluate


def test_nan_loss_raises_before_saving_that_state():
    settings = LoopSettings(
        total_steps=30, steps_per_epoch=30, steps_per_loop=5, checkpoint_every_steps=5
    )
    runner = FakeRunner(nan_at=13)
    with pytest.raises(NonFiniteLossError) as info:
        run(settings, runner=runner)
    assert (info.value.first_step, info.value.last_step) == (11, 15)
    assert info.value.last_good_checkpoint == "ckpt-10"
    assert "steps 11-15" in str(info.value) and "ckpt-10" in str(info.value)


def test_log_every_steps_marks_which_loops_print():
    settings = LoopSettings(
        total_steps=24, steps_per_epoch=100, steps_per_loop=4, log_every_steps=10
    )
    _, _, _, recorder = run(settings)
    logged = [e[1] for e in recorder.events if e[0] == "train" and e[3]]
    assert logged == [12, 20, 24]  # the loops that cross 10 and 20, and the last


def test_reports_carry_rate_speed_and_learning_rate_of_the_last_step():
    settings = LoopSettings(total_steps=8, steps_per_epoch=4, steps_per_loop=4)
    reports = []

    class Keep(Action):
        def on_train_loop(self, report):
            reports.append(report)

    controller = Controller(
        FakeRunner(), settings, FakeCheckpoints(), [Keep()], learning_rate=lambda s: s * 1.0
    )
    controller.run()
    assert [r.step for r in reports] == [4, 8]
    assert [r.learning_rate for r in reports] == [3.0, 7.0]
    assert reports[0].epoch == 1.0 and reports[0].images_per_sec > 0
    assert reports[-1].eta_seconds == 0
    assert reports[0].row()["learning_rate"] == 3.0


def test_a_run_restored_complete_evaluates_for_the_result_without_reporting_again():
    settings = LoopSettings(total_steps=8, steps_per_epoch=4, steps_per_loop=4)
    result, runner, checkpoints, recorder = run(settings, checkpoints=FakeCheckpoints(start=8))
    assert not [c for c in runner.calls if c[0] == "train"]
    assert result.eval_metrics["top1"] == 0.75 and runner.calls.count(("eval",)) == 1
    assert not [e for e in recorder.events if e[0] in ("eval", "checkpoint")]
