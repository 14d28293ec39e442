"""Crashes and signals: resume after SIGKILL, clean stop on SIGTERM, deterministic reruns."""

import re
import signal
import time
from collections import Counter
from pathlib import Path

from run_scripts import finish, result_of, start_script

from deepnets.training.reports.reporting import read_metrics_csv

TOTAL_STEPS = 40


def run_spec(model_dir, *, delay=0.0, seed=1, total=TOTAL_STEPS, seeded_init=True):
    return {
        "config": {
            "model_dir": str(model_dir),
            "epochs": None,
            "train_steps": total,
            "global_batch_size": 32,
            "learning_rate": 0.05,
            "schedule": "cosine",
            "warmup_steps": 3,
            "steps_per_loop": 2,
            "checkpoint_every_steps": 4,
            "keep_checkpoints": 2,
            "seed": seed,
            "deterministic": True,
        },
        "delay_seconds": delay,
        "seeded_init": seeded_init,
    }


def newest_checkpoint_step(model_dir):
    """Step of the newest complete checkpoint: the one the "checkpoint" state file names.

    A checkpoint's data files appear before the state file is updated, so a process killed in
    between leaves files of a checkpoint that a restart rightly ignores.
    """
    state = Path(model_dir) / "checkpoints" / "checkpoint"
    if not state.exists():
        return 0
    match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(match.group(1)) if match else 0


def wait_for_checkpoint(process, model_dir, min_step, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if newest_checkpoint_step(model_dir) >= min_step:
            return
        if process.poll() is not None:
            raise AssertionError(f"run ended before a checkpoint:\n{process.communicate()[0]}")
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no checkpoint appeared in time")


def train_steps_in_csv(model_dir):
    return [
        int(r["step"])
        for r in read_metrics_csv(str(Path(model_dir) / "metrics.csv"))
        if r["split"] == "train"
    ]


def test_killed_run_resumes_from_last_checkpoint_and_matches_an_uninterrupted_run(tmp_path):
    reference_dir, crash_dir = tmp_path / "reference", tmp_path / "crash"
    reference = start_script("toy_run.py", run_spec(reference_dir))
    # 0.05 s per batch keeps the run going long enough to be killed in the middle.
    doomed = start_script("toy_run.py", run_spec(crash_dir, delay=0.05))
    wait_for_checkpoint(doomed, crash_dir, min_step=8)
    doomed.send_signal(signal.SIGKILL)
    code, _ = finish(doomed)
    assert code == -signal.SIGKILL
    killed_at = newest_checkpoint_step(crash_dir)
    assert 8 <= killed_at < TOTAL_STEPS

    code, output = finish(start_script("toy_run.py", run_spec(crash_dir)))
    assert code == 0, output
    resumed = result_of(output)
    assert resumed["resumed_from"].endswith(f"ckpt-{killed_at}")
    assert f"Resumed from {resumed['resumed_from']} at step {killed_at}/{TOTAL_STEPS}" in output
    assert resumed["final_step"] == TOTAL_STEPS
    assert resumed["checkpoint"].endswith(f"ckpt-{TOTAL_STEPS}")

    steps = train_steps_in_csv(crash_dir)
    assert steps == list(range(2, TOTAL_STEPS + 1, 2))  # each loop once, none lost or repeated
    assert not [s for s, n in Counter(steps).items() if n > 1]

    code, output = finish(reference)
    assert code == 0, output
    # Same data position and optimizer state after the restart: bit-identical final weights.
    assert resumed["weights"] == result_of(output)["weights"]


def test_sigterm_checkpoints_the_current_step_and_exits_cleanly(tmp_path):
    process = start_script("toy_run.py", run_spec(tmp_path, delay=0.05, total=400))
    wait_for_checkpoint(process, tmp_path, min_step=4)
    process.send_signal(signal.SIGTERM)
    code, output = finish(process)
    assert code == 0, output
    result = result_of(output)
    stopped_at = result["final_step"]
    assert result["preempted"] and 4 <= stopped_at < 400
    assert stopped_at % 2 == 0  # at the end of a loop
    assert result["checkpoint"].endswith(f"ckpt-{stopped_at}")
    assert newest_checkpoint_step(tmp_path) == stopped_at
    assert (
        f"SIGTERM received: saved checkpoint {result['checkpoint']} at step {stopped_at}/400"
        in output
    )
    assert max(train_steps_in_csv(tmp_path)) == stopped_at


def test_deterministic_runs_repeat_exactly_and_depend_on_the_seed(tmp_path):
    runs = {
        name: start_script(
            "toy_run.py", run_spec(tmp_path / name, seed=seed, total=16, seeded_init=False)
        )
        for name, seed in (("a", 5), ("b", 5), ("other_seed", 6))
    }
    results = {}
    for name, process in runs.items():
        code, output = finish(process)
        assert code == 0, output
        losses = [r["data_loss"] for r in read_metrics_csv(str(tmp_path / name / "metrics.csv"))]
        results[name] = (losses, result_of(output)["weights"])
    assert len(results["a"][0]) == 8
    assert results["a"] == results["b"]
    assert results["a"][0] != results["other_seed"][0]
    assert results["a"][1] != results["other_seed"][1]
