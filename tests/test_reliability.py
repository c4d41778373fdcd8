"""Reliability: a checkpoint is resumed only by the run that made it (settings, seed, input content,
code), otherwise it is discarded with the reason and the result equals a fresh run's bit for bit, and so
is one that does not load; input text that is no Unicode is an error naming where it is."""

import gzip
import json
import re
import shutil
import sys

import pytest
import torch

from more_lib.core import io
from more_lib.core.errors import DataError
from more_lib.data import converters
from more_lib.data import records as data
from more_lib.reward import checkpoint
from tests import test_align, test_reward
from tests.test_reward import REPO, kill_at_first_checkpoint, run, weights, world  # noqa: F401 (world is a fixture)


def with_settings(command, **changes):
    """The command with its --settings JSON changed."""
    at = command.index("--settings") + 1
    return [*command[:at], json.dumps({**json.loads(command[at]), **changes}), *command[at + 1:]]


@pytest.mark.slow  # real training runs, killed and resumed
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
    assert "more_lib.reward.checkpoint" in made["code"] and "script" in made["code"]
    data.write_text(data.read_text().replace("assistant", "assistent", 1))  # one word of the data
    assert checkpoint.differences(made, checkpoint.fingerprint(settings, [data])) == f"inputs.{data} changed"
    other = {**settings, "seed": 12, "settings": {"lr": 1e-3, "more": {"alpha": 0.5}}}
    assert checkpoint.differences(made, checkpoint.fingerprint(other, [data])) == (
        f"arguments.seed: 11 -> 12; arguments.settings.more.alpha: 0.99 -> 0.5; inputs.{data} changed")
    assert checkpoint.differences(None, made) == "it has no fingerprint.json"


GOOD = '{"id": "a", "source": "s", "prompt": "p ", "chosen": "yes \\ud83d\\ude00", "rejected": "no"}'


@pytest.mark.parametrize("bad, message", [
    (GOOD.replace('"no"', '"n\\ud800o"').encode(), r"a lone surrogate escape \(\\ud800-\\udfff without its pair\)"),
    (GOOD.replace('"no"', '"n?o"').encode().replace(b"?", b"\xff"), r"invalid UTF-8 \(byte 0xff at byte 88 "),
], ids=["lone surrogate", "invalid utf-8"])
def test_text_that_is_no_unicode_is_an_error_naming_file_and_line(tmp_path, bad, message):
    path = tmp_path / "train.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + bad + b"\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:2: {message}"):
        data.read_records(path)
    path.write_bytes(GOOD.encode() + b"\n")  # a surrogate pair (an emoji) is text
    assert data.read_records(path)[0]["chosen"] == "yes \U0001F600"


def test_a_hub_row_with_bytes_that_are_not_utf8_fails_naming_source_split_and_row(tmp_path):
    hub = tmp_path / "hh-rlhf"
    shutil.copytree(REPO / "tests" / "fixtures" / "hub" / "hh-rlhf", hub)
    train = next((hub / "helpful-base").glob("train*"))
    rows = len(gzip.decompress(train.read_bytes()).splitlines())  # the new row's index
    with gzip.open(train, "ab") as f:
        f.write(b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: \xff", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: no"}\n')
    with pytest.raises(DataError, match=rf"^source 'helpful', split 'train', row {rows}: invalid UTF-8 "):
        converters.convert_hh("helpful", {"path": str(hub), "data_dir": "helpful-base"}, 1)


@pytest.mark.parametrize("damaged", ["state.pt", "fingerprint.json"])
def test_a_checkpoint_that_does_not_load_is_discarded_and_training_starts_afresh(tmp_path, capsys, damaged):
    """Cut to half (a kill or a full disk while it was copied): before, every rerun failed on it forever."""
    from more_lib.reward import trainers
    from tests.test_weighting import FINGERPRINT, _saved_more_run, _tiny_reward_model, _trainer

    _saved_more_run(tmp_path)
    path = tmp_path / damaged
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    model = _tiny_reward_model()
    untouched = {name: value.clone() for name, value in model.state_dict().items()}
    assert trainers.resume(_trainer(model), tmp_path, {"more_state": {}}, FINGERPRINT) == (0, [], {})
    said = capsys.readouterr().out
    assert re.fullmatch(rf"discarding the checkpoint in {re.escape(str(tmp_path))}, {re.escape(str(path))}"
                        r"(: malformed JSON \(.*\)| does not load \(PytorchStreamReader failed .*\))\n", said), said
    assert [p.name for p in tmp_path.iterdir()] == ["fingerprint.json"]  # emptied for the fresh run
    assert checkpoint.differences(io.read_json(tmp_path / "fingerprint.json"), FINGERPRINT) is None
    assert all(torch.equal(untouched[name], value) for name, value in model.state_dict().items())


@pytest.mark.slow  # real training runs, killed and resumed
def test_a_run_whose_checkpoint_was_cut_short_ends_where_a_fresh_run_ends(world, tmp_path):  # noqa: F811
    fresh = tmp_path / "fresh"
    run(test_reward.train_command(world, fresh))
    killed = tmp_path / "killed"
    kill_at_first_checkpoint(test_reward.train_command(world, killed), killed)
    state = tmp_path / "killed.ckpt" / "state.pt"
    state.write_bytes(state.read_bytes()[:state.stat().st_size // 2])
    output = run(test_reward.train_command(world, killed))
    assert f"discarding the checkpoint in {killed}.ckpt, {state} does not load (" in output
    reference, rerun = weights(fresh), weights(killed)
    assert all(torch.equal(reference[k], rerun[k]) for k in reference)


@pytest.mark.deepspeed
def test_a_deepspeed_checkpoint_with_cut_weights_is_discarded_before_the_engine_loads_it(world, tmp_path):  # noqa: F811
    """ZeRO-2 on two CPU ranks, killed once its first tag is named in `latest`, the tag's model states cut to
    half: both ranks discard it and the run ends where an uninterrupted one ends."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561"]
    straight = tmp_path / "straight"
    run(test_reward.train_command(world, straight, launcher=torchrun, max_steps=8))
    killed = tmp_path / "killed"
    kill_at_first_checkpoint(test_reward.train_command(world, killed, launcher=torchrun, max_steps=8), killed,
                             state="latest")
    folder = tmp_path / "killed.ckpt"
    weights_file = next((folder / (folder / "latest").read_text().strip()).glob("*model_states.pt"))
    weights_file.write_bytes(weights_file.read_bytes()[:weights_file.stat().st_size // 2])
    output = run(test_reward.train_command(world, killed, launcher=torchrun, max_steps=8))
    assert f"discarding the checkpoint in {folder}, {weights_file} does not load (" in output
    assert "resumed from the checkpoint" not in output
    reference, rerun = weights(straight), weights(killed)
    assert all(torch.equal(reference[k], rerun[k]) for k in reference)
