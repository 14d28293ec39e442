"""`time_budget_minutes`: the calibration's clock, the plan of the run's length, its record in
the run folder, and a budgeted run end to end."""

import dataclasses
import fcntl
import json
import os
import signal

import pytest
import tensorflow as tf
import training_toys as toys

from deepnets.training import ConfigError, LoopSettings, TrainConfig, plan_run, run_loop, train
from deepnets.training.loop.actions import Action, LoopReport
from deepnets.training.reports.reporting import read_metrics_csv
from deepnets.training.run import api as api_module
from deepnets.training.run import budget as budget_module
from deepnets.training.run.budget import (
    BudgetPlan,
    CalibrationClock,
    evaluations_after,
    plan_budget,
)
from deepnets.training.run.budget_ledger import BudgetLedger
from deepnets.training.run.budget_schedule import fitted_warmup, run_schedule

ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")


def loop_settings(eval_every_steps=None, steps_per_epoch=100):
    return LoopSettings(
        total_steps=10**6, steps_per_epoch=steps_per_epoch, eval_every_steps=eval_every_steps
    )


@pytest.mark.parametrize(
    "eval_every, step, total, expected",
    [
        (None, 0, 300, 3),  # each epoch's end
        (None, 50, 250, 3),  # 100, 200 and the end
        (None, 100, 300, 2),  # the calibration's epoch end is behind it
        (140, 75, 300, 3),  # 140, 280 and the end
        (140, 75, 280, 2),  # the end is an evaluation step
        (0, 75, 5000, 1),  # only the end
    ],
)
def test_evaluations_after_counts_the_controllers_evaluations(eval_every, step, total, expected):
    assert evaluations_after(loop_settings(eval_every), step, total) == expected


def test_plan_budget_takes_the_most_steps_that_fit():
    settings = loop_settings(eval_every_steps=500)
    arguments = dict(
        calibration_steps=60,
        seconds_per_step=0.5,
        startup_seconds=10.0,
        elapsed_seconds=45.0,
        eval_seconds=20.0,
    )
    plan = plan_budget(20.0, settings, **arguments)

    def seconds(total):
        evaluations = evaluations_after(settings, 60, total)
        return 45.0 + 1.5 * 10.0 + (total - 60) * 0.5 * 1.05 + evaluations * 20.0

    assert budget_module.SPEED_MARGIN == 0.05
    assert seconds(plan.total_steps) <= 1200.0 < seconds(plan.total_steps + 1)
    assert plan.planned_seconds == pytest.approx(seconds(plan.total_steps))
    assert plan.total_steps == 2040  # 60 + (1200 - 60 - 5 evaluations * 20) / (0.5 * 1.05)
    assert plan.calibration_steps == 60 and plan.minutes == 20.0


def test_plan_budget_spent_by_the_calibration_keeps_its_steps():
    plan = plan_budget(
        0.5,
        loop_settings(),
        calibration_steps=40,
        seconds_per_step=1.0,
        startup_seconds=5.0,
        elapsed_seconds=50.0,
        eval_seconds=3.0,
    )
    assert plan.total_steps == 40 and plan.planned_seconds > 30.0


def report(step, num_steps, images_per_sec):
    return LoopReport(
        step=step,
        num_steps=num_steps,
        total_steps=10**6,
        steps_per_epoch=100,
        metrics={"loss": 1.0},
        learning_rate=None,
        images_per_sec=images_per_sec,
        eta_seconds=0.0,
        log=True,
    )


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_calibration_clock_times_the_steady_loops(capsys):
    now = FakeClock()
    clock = CalibrationClock(
        started=100.0, batch_size=10, steps_per_epoch=1000, budget_seconds=600.0, clock=now
    )  # an epoch of 250 s: more than a quarter of the budget, so it is not waited out
    clock.on_start(0, 10**6, None)
    now.now = 130.0
    clock.on_train_loop(report(20, 20, images_per_sec=20.0))  # 10 s of steps, 20 s of tracing
    assert not clock.done()
    for step in (40, 60):
        clock.on_train_loop(report(step, 20, images_per_sec=40.0))  # 5 s each
    assert not clock.done()  # two steady loops, but 10 s < CALIBRATION_SECONDS
    for step in (80, 100):
        clock.on_train_loop(report(step, 20, images_per_sec=40.0))
    assert clock.done()  # four steady loops, 20 s
    assert clock.seconds_per_step() == pytest.approx(0.25)
    assert clock.startup_seconds() == pytest.approx(30.0 - 20 * 0.25)
    now.now = 160.0
    plan = clock.plan(loop_settings(0), eval_images=1000, views=6)  # 600 s
    assert plan.calibration_steps == 100 and plan.elapsed_seconds == pytest.approx(60.0)
    per_image = 0.25 / 10
    assert plan.seconds_per_evaluation == pytest.approx(1000 * 6 * per_image / 3)
    assert "Time budget: measuring the step rate..." in capsys.readouterr().out


def test_calibration_clock_leaves_out_a_short_first_epoch():
    now = FakeClock()
    clock = CalibrationClock(
        started=100.0, batch_size=10, steps_per_epoch=40, budget_seconds=600.0, clock=now
    )
    clock.on_train_loop(report(20, 20, images_per_sec=20.0))  # tracing
    clock.on_train_loop(report(40, 20, images_per_sec=20.0))  # 0.5 s per step: reads files
    assert clock.steady == [] and not clock.done()  # a 20 s epoch: waited out
    for step in (60, 80, 100, 120):
        clock.on_train_loop(report(step, 20, images_per_sec=40.0))  # 0.25 s per step
        assert clock.done() == (step == 120)  # 5 s per loop: four loops for 20 s
    assert clock.seconds_per_step() == pytest.approx(0.25)
    clock.budget_seconds = 60.0  # the same epoch against a 1-minute budget: timed from its start
    assert clock.steady[0] == (20, 10.0) and len(clock.steady) == 5


def test_budget_plan_round_trips_through_the_run_folder(tmp_path):
    assert BudgetPlan.read(str(tmp_path)) is None
    plan = plan_budget(
        5.0,
        loop_settings(),
        calibration_steps=30,
        seconds_per_step=0.1,
        startup_seconds=4.0,
        elapsed_seconds=12.0,
        eval_seconds=1.0,
    )
    path = plan.write(str(tmp_path))
    assert os.path.basename(path) == "budget.json"
    assert BudgetPlan.read(str(tmp_path)) == plan
    (tmp_path / "budget.json").write_text('{"minutes": 5.0}')
    with pytest.raises(ValueError, match=r"budget\.json is not a deepnets budget plan"):
        BudgetPlan.read(str(tmp_path))


def budget_config(tmp_path, **fields):
    values = {
        # The smallest FastVGG: the budget's arithmetic is pinned, the model only has to train.
        "model": "vgg_fast",
        "model_overrides": {"widths": (4, 4), "stem_width": 4},
        "dataset": "shapes10",
        "model_dir": str(tmp_path),
        "epochs": None,
        "time_budget_minutes": 0.6,
        "global_batch_size": 50,
        "steps_per_loop": 10,
        "schedule": "cosine",
        "warmup_steps": 30,
        "eval_every_steps": 0,
        "export_saved_model": False,
    }
    return TrainConfig(**{**values, **fields})


def test_a_length_is_set_by_exactly_one_of_epochs_steps_and_budget(tmp_path):
    with pytest.raises(ConfigError, match=r"exactly one of .*time_budget_minutes=0\.6"):
        budget_config(tmp_path, epochs=3).validate()
    with pytest.raises(ConfigError, match="time_budget_minutes"):
        budget_config(tmp_path, time_budget_minutes=0.0).validate()


def test_plan_takes_the_recorded_length_and_refuses_another_budget(tmp_path):
    cfg = budget_config(tmp_path)
    provisional = plan_run(cfg, ONE_DEVICE)
    assert provisional.needs_calibration and provisional.budget is None
    assert provisional.loop.total_steps == budget_module.PROVISIONAL_EPOCHS * 200
    recorded = plan_budget(
        0.6,
        provisional.loop,
        calibration_steps=40,
        seconds_per_step=0.05,
        startup_seconds=2.0,
        elapsed_seconds=8.0,
        eval_seconds=0.5,
    )
    recorded.write(str(tmp_path))
    plan = plan_run(cfg, ONE_DEVICE)
    assert plan.budget == recorded and not plan.needs_calibration
    assert plan.loop.total_steps == recorded.total_steps
    with pytest.raises(ConfigError, match=r"planned for 0\.6 minutes.*--time_budget_minutes=0\.6"):
        plan_run(budget_config(tmp_path, time_budget_minutes=1.0), ONE_DEVICE)
    (tmp_path / "budget.json").write_text("not json")
    with pytest.raises(ConfigError, match=r"time_budget_minutes.*delete it"):
        plan_run(cfg, ONE_DEVICE)


def test_run_loop_stop_when_checkpoints_and_stops_without_the_final_evaluation(tmp_path, capsys):
    stops = iter([False, True])
    result = run_loop(
        toys.toy_runner(),
        LoopSettings(total_steps=40, steps_per_epoch=8, steps_per_loop=4),
        model_dir=str(tmp_path),
        progress=False,
        stop_when=lambda: next(stops),
    )
    assert result.preempted and result.final_step == 8
    assert result.checkpoint_path.endswith("ckpt-8")
    assert result.eval_metrics["examples"] == 100  # the epoch's evaluation, not a final one
    assert "step 8/40" not in capsys.readouterr().out  # no progress lines
    steps = [int(r["step"]) for r in read_metrics_csv(result.metrics_csv) if r["split"] == "train"]
    assert steps == [4, 8]


class SigtermAtFirstLoop(Action):
    """Sends this process SIGTERM after the run's first loop (a preemption mid-calibration)."""

    def on_train_loop(self, report):
        if report.step == 10:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_budgeted_run_calibrates_plans_resumes_and_ends_at_the_planned_step(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(budget_module, "CALIBRATION_SECONDS", 0.0)  # two steady loops suffice
    monkeypatch.setattr(budget_module, "FIRST_EPOCH_SHARE", 0.0)  # the first epoch counts
    measured = CalibrationClock.plan

    def plan_25_more(clock, *args):  # what the machine's speed allows, pinned for the test
        return dataclasses.replace(measured(clock, *args), total_steps=clock.step + 25)

    monkeypatch.setattr(CalibrationClock, "plan", plan_25_more)
    cfg = budget_config(tmp_path)
    stopped = train(cfg, ONE_DEVICE, extra_actions=[SigtermAtFirstLoop()])
    assert stopped.preempted and stopped.final_step == 10
    assert BudgetPlan.read(str(tmp_path)) is None  # nothing planned yet: the rerun measures

    result = train(cfg, ONE_DEVICE)
    out = capsys.readouterr().out
    budget = BudgetPlan.read(str(tmp_path))
    assert "Time budget: measuring the step rate (resumed at step 10)..." in out
    assert budget.calibration_steps == 40  # three loops of 10 after the resume: two timed
    assert budget.total_steps == 65 and budget.seconds_per_step > 0
    assert result.final_step == result.total_steps == budget.total_steps and not result.preempted
    assert result.resumed_from.endswith("ckpt-40")
    assert f"measured by step 40; the run trains {budget.total_steps} steps" in out
    assert f"Resumed from {result.resumed_from} at step 40/{budget.total_steps}." in out
    assert "this process took" in out
    assert "after the calibration: start-up " in out and "25 steps' training " in out
    # 65 steps fit where an epoch is 200: the configured 30 warmup steps would be 46% of them
    assert (
        "Warmup fitted to the budget: the configured 30 steps (0.15 epochs) would be 46% of the "
        "65 steps this machine fits in 0.6 minutes; warming up over 13 (20%) instead." in out
    )
    assert result.eval_metrics["examples"] == 2000
    rows = read_metrics_csv(result.metrics_csv)
    train_steps = [int(r["step"]) for r in rows if r["split"] == "train"]
    assert train_steps[:4] == [10, 20, 30, 40]  # the calibration's loops are in the record
    assert train_steps[-1] == budget.total_steps
    assert [int(r["step"]) for r in rows if r["split"] == "eval"] == [budget.total_steps]
    with open(tmp_path / "budget.json") as f:
        assert json.load(f)["total_steps"] == budget.total_steps

    again = train(cfg, ONE_DEVICE)  # a rerun reads the plan: no second calibration
    assert "measuring the step rate" not in capsys.readouterr().out
    assert again.final_step == budget.total_steps and BudgetPlan.read(str(tmp_path)) == budget


def lock_is_free(model_dir) -> bool:
    """Whether another writer could take the run folder's lock now (a new open file
    description conflicts with this process's own `flock`)."""
    fd = os.open(os.path.join(model_dir, "run.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's lock, if it took it
    return True


def test_a_budgeted_run_holds_the_lock_from_the_calibration_to_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(budget_module, "CALIBRATION_SECONDS", 0.0)
    monkeypatch.setattr(budget_module, "FIRST_EPOCH_SHARE", 0.0)
    measured = CalibrationClock.plan
    monkeypatch.setattr(
        CalibrationClock,
        "plan",
        lambda clock, *args: dataclasses.replace(
            measured(clock, *args), total_steps=clock.step + 10
        ),
    )
    made = api_module.make_runner
    free_when_made = []

    def make_runner(plan, schedule):  # the calibration's runner, then the run's
        free_when_made.append(lock_is_free(str(tmp_path)))
        return made(plan, schedule)

    monkeypatch.setattr(api_module, "make_runner", make_runner)
    result = train(budget_config(tmp_path), ONE_DEVICE)
    assert result.final_step == BudgetPlan.read(str(tmp_path)).total_steps
    assert free_when_made == [False, False]  # no second launch can slip in between
    assert lock_is_free(str(tmp_path))  # and it is let go at the end


def test_a_budget_that_fits_less_than_an_epoch_shortens_the_warmup_only_then(tmp_path):
    cfg = budget_config(tmp_path, warmup_steps=None, warmup_epochs=1.0)  # 200 steps
    provisional = plan_run(cfg, ONE_DEVICE)
    assert fitted_warmup(provisional) == (200, None)  # the calibration warms up as configured

    def budgeted(total_steps):
        budget = BudgetPlan(0.6, 40, 0.05, 2.0, 0.5, 8.0, total_steps, 30.0)
        return provisional.with_budget(budget)

    steps, note = fitted_warmup(budgeted(150))  # less than one epoch fits
    assert steps == 30
    assert note.startswith("Warmup fitted to the budget: the configured 200 steps (1 epoch)")
    schedule = run_schedule(budgeted(150))
    assert schedule.warmup_steps == 30 and schedule.total_steps == 150
    assert float(schedule(29)) == pytest.approx(0.1)  # the peak, then the cosine decay
    assert float(schedule(150)) == pytest.approx(0.0, abs=1e-6)
    assert fitted_warmup(budgeted(1000)) == (200, None)  # 20% or less: as configured
    unbudgeted = plan_run(
        budget_config(
            tmp_path / "e", time_budget_minutes=None, epochs=1, warmup_steps=None, warmup_epochs=1.0
        ),
        ONE_DEVICE,
    )
    assert fitted_warmup(unbudgeted) == (200, None)  # a length the user chose: as asked


def test_the_ledger_says_which_part_of_a_budgeted_run_went_over_its_plan():
    clock = FakeClock()
    ledger = BudgetLedger(batch_size=10, clock=clock)
    clock.now += 3.0  # the start-up: building the model, restoring the checkpoint
    ledger.on_start(40, 60, "ckpt-40")
    clock.now += 2.5  # a loop of 10 steps at 50 img/s: 2 s steady, 0.5 s tracing
    ledger.on_train_loop(report(50, 10, images_per_sec=50.0))
    clock.now += 0.5
    ledger.on_checkpoint(50, "ckpt-50")
    clock.now += 2.0
    ledger.on_train_loop(report(60, 10, images_per_sec=50.0))
    clock.now += 4.0  # an evaluation twice as long as planned, with its reports
    ledger.on_eval(60, {"top1": 0.5})
    plan = BudgetPlan(1.0, 40, 0.2, 3.0, 2.0, 10.0, 60, 60.0)
    line = ledger.summary(plan, export_seconds=1.0, total_seconds=66.0)
    assert line == (
        "Time budget 1 min: this process took 1.10 min (planned 1.00); after the calibration: "
        "start-up 4 s (planned 3), 20 steps' training 4 s (planned 4), 1 evaluations 4 s "
        "(planned 2), other 0 s (planned 0), export 1 s (planned 2)."
    )
