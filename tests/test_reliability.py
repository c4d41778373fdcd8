"""Reliability: a checkpoint is resumed only by the run that made it (settings, seed, input content,
code); otherwise it is discarded with the reason, and the result equals a fresh run's bit for bit."""

import json

import pytest
import torch

from more_lib import checkpoint
from tests import test_align, test_reward
from tests.test_reward import kill_at_first_checkpoint, run, weights, world  # noqa: F401 (world is a fixture)


def with_settings(command, **changes):
    """The command with its --settings JSON changed."""
    at = command.index("--settings") + 1
    return [*command[:at], json.dumps({**json.loads(command[at]), **changes}), *command[at + 1:]]


@pytest.mark.parametrize("train_command", [test_reward.train_command, test_align.train_command], ids=["rm", "policy"])
def test_a_checkpoint_of_another_learning_rate_is_discarded_and_the_rerun_equals_a_fresh_one(
        world, tmp_path, train_command):  # noqa: F811
    fresh = tmp_path / "fresh"
    run(with_settings(train_command(world, fresh), lr=5e-4))
    killed = tmp_path / "killed"
    kill_at_first_checkpoint(train_command(world, killed), killed)  # at the configured lr
    output = run(with_settings(train_command(world, killed), lr=5e-4))
    assert "resumed from the checkpoint" not in output
    assert f"discarding the checkpoint in {killed}.ckpt, made by a different run: arguments.settings.lr: " in output
    reference, rerun = weights(fresh), weights(killed)
    assert reference.keys() == rerun.keys() and all(torch.equal(reference[k], rerun[k]) for k in reference)


def test_the_fingerprint_names_what_changed(world, tmp_path):  # noqa: F811
    data = tmp_path / "train.jsonl"
    data.write_text(world["files"][0].read_text())
    settings = {"settings": {"lr": 1e-3, "more": {"alpha": 0.99}}, "seed": 11, "train": [str(data)]}
    made = checkpoint.fingerprint(settings, [data])
    assert checkpoint.differences(made, checkpoint.fingerprint(settings, [data])) is None
    assert set(made) == {"arguments", "inputs", "code", "versions", "device", "ranks"}
    assert "more_lib.checkpoint" in made["code"] and "script" in made["code"]
    data.write_text(data.read_text().replace("assistant", "assistent", 1))  # one word of the data
    assert checkpoint.differences(made, checkpoint.fingerprint(settings, [data])) == f"inputs.{data} changed"
    other = {**settings, "seed": 12, "settings": {"lr": 1e-3, "more": {"alpha": 0.5}}}
    assert checkpoint.differences(made, checkpoint.fingerprint(other, [data])) == (
        f"arguments.seed: 11 -> 12; arguments.settings.more.alpha: 0.99 -> 0.5; inputs.{data} changed")
    assert checkpoint.differences(None, made) == "it has no fingerprint.json"
