"""The README's install+run command, shortened to a few steps, trains end to end."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
CHANCE = 0.1


def _readme_train_args():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    command = next(part for part in first_block.split("&&") if "deepnets-train" in part)
    words = shlex.split(command)
    return words[words.index("deepnets-train") + 1 :]


def test_readme_run_command_trains(tmp_path):
    args = _readme_train_args()
    assert any(a.startswith("--epochs=") for a in args)
    assert "--dataset=shapes10" in args  # the offline dataset: works on a fresh machine
    short = [a for a in args if not a.startswith(("--epochs=", "--model_dir="))]
    # 120 of the command's 468 steps (its cosine schedule then runs over those 120).
    short += ["--train_steps=120", "--steps_per_loop=20", f"--model_dir={tmp_path / 'run'}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "trainers.train", *short],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = re.search(r"Final step 120: eval .*top1=(0\.\d+)", result.stdout)
    assert found, result.stdout[-2000:]
    top1 = float(found.group(1))
    print(f"README command, 120 steps: test top-1 {top1:.3f}")
    assert top1 > CHANCE + 0.25  # 10 balanced classes; measured 0.464
    assert (tmp_path / "run" / "final.keras").exists()
