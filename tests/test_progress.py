"""Seeing inside a run: the progress bar in a training job's log, the live train_log.csv and the
TensorBoard event files beside it, while the job runs, after a kill and after the resumed run."""

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from more_lib.core import progress
from tests.test_reward import SETTINGS, run, train_command, world  # noqa: F401 (world is a fixture)

LIVE = {**SETTINGS, "log_every": 3}  # checkpoints every 4 steps: rows reach the file before the first


def live_command(world, output):  # noqa: F811
    command = train_command(world, output)
    command[command.index("--settings") + 1] = json.dumps(LIVE)
    return command


def scalars(folder, tag):
    """(step, value) of every event of `tag` that TensorBoard's own reader finds under `folder`."""
    events = EventAccumulator(str(folder))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.slow  # real training runs, killed and resumed
def test_a_running_job_shows_progress_and_live_logs_that_a_resumed_run_continues(world, tmp_path):  # noqa: F811
    output, job_log = tmp_path / "rm", tmp_path / "job.log"
    with open(job_log, "w") as log:
        process = subprocess.Popen(live_command(world, output), stdout=log, stderr=subprocess.STDOUT)
        state = Path(f"{output}.ckpt") / "state.pt"
        while not state.exists() and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)  # mid-run: the model is not saved, the live files are there
        process.wait()
    assert not (output / "model.safetensors").exists(), "the run finished before it could be killed"
    shown = job_log.read_text()
    assert "/40 [" in shown and "loss=" in shown and "accuracy=" in shown and "λ=" in shown, shown
    assert f"live log: {output / progress.LOG}" in shown
    rows = pd.read_csv(output / progress.LOG)
    assert len(rows) >= LIVE["log_every"] and rows["step"].tolist() == list(range(1, len(rows) + 1))
    assert {"loss", "accuracy", "lambda_helpful", "loss_oasst1"} <= set(rows.columns)
    live_events = scalars(output / progress.EVENTS, "lambda/helpful")
    assert [step for step, _ in live_events] == rows["step"].tolist()

    resumed = run(live_command(world, output))
    assert "resumed from the checkpoint at step 4" in resumed
    final = pd.read_csv(output / progress.LOG)
    assert final["step"].tolist() == list(range(1, 41))  # no step missing or logged twice
    pd.testing.assert_frame_equal(final.head(len(rows)).drop(columns="seconds"), rows.drop(columns="seconds"))
    events = scalars(output / progress.EVENTS, "loss")
    assert [step for step, _ in events] == list(range(1, 41))
    assert [value for _, value in events] == final["loss"].astype("float32").tolist()


def test_a_restart_rewrites_the_live_files_from_the_checkpoints_rows(tmp_path):
    rows = [{"step": s, "loss": 1.0 / s, "lambda_a": 0.5} for s in range(1, 9)]
    first = progress.Live(tmp_path, [], total=8, every=2, desc="first")
    for row in rows[:7]:  # killed after step 7; its last checkpoint holds steps 1-4
        first.add(row)
    assert pd.read_csv(tmp_path / progress.LOG)["step"].tolist() == list(range(1, 7))
    second = progress.Live(tmp_path, rows[:4], total=8, every=2, desc="resumed")
    for row in rows[4:]:
        second.add(row)
    second.close()
    assert pd.read_csv(tmp_path / progress.LOG)["step"].tolist() == list(range(1, 9))
    assert [step for step, _ in scalars(tmp_path / progress.EVENTS, "lambda/a")] == list(range(1, 9))
