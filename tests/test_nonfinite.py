"""Training that diverges stops at the step where a loss, λ or the gradient norm stops being finite, with
one line naming the step and the value: the RM loop (plain and DeepSpeed) and the policy loop."""

import json
import re
import subprocess
import sys

import pytest

from tests import test_align
from tests.test_reward import SETTINGS, train_command, world  # noqa: F401 (world is a fixture)

# AdamW's first step moves every weight by about lr: the next forward pass overflows
DIVERGING = {**SETTINGS, "lr": 1e30}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561"]
STOPPED = re.compile(r"^error: training diverged at step (\d+): (.+) is (nan|inf|-inf) \(lr 1e\+30\)$", re.MULTILINE)


def stopped(command, output):
    """The standard error of a training run that must exit 1 without exporting a model."""
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert not (output / "model.safetensors").exists()
    return result.stderr


def test_rm_training_that_diverges_stops_on_one_line_naming_the_step_and_the_value(world, tmp_path):  # noqa: F811
    errors = stopped(train_command(world, tmp_path / "rm", max_steps=10, settings=DIVERGING), tmp_path / "rm")
    assert STOPPED.fullmatch(errors.strip().splitlines()[-1]) and "Traceback" not in errors, errors[-3000:]


def test_policy_training_that_diverges_stops_on_one_line_naming_the_step_and_the_value(world, tmp_path):  # noqa: F811
    command = test_align.train_command(world, tmp_path / "policy", max_steps=10)
    command[command.index("--settings") + 1] = json.dumps({**test_align.SETTINGS, "lr": 1e30})
    errors = stopped(command, tmp_path / "policy")
    assert STOPPED.fullmatch(errors.strip().splitlines()[-1]) and "Traceback" not in errors, errors[-3000:]


@pytest.mark.deepspeed
def test_rm_training_under_deepspeed_stops_every_rank_at_the_same_step(world, tmp_path):  # noqa: F811
    output = tmp_path / "ds"
    errors = stopped(train_command(world, output, max_steps=10, settings=DIVERGING, launcher=TORCHRUN), output)
    # each rank's own last line (torchrun then adds its summary of the failed ranks)
    stops = STOPPED.findall(errors)
    assert len(stops) == 2 and stops[0] == stops[1], errors[-3000:]
