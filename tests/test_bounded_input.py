"""Bounded input: a line or a text over its stated size, JSON nested over its stated depth, a data path that
is no regular file, a meta reward that is no number and a full disk under a checkpoint each end in one line
naming the file; SIGTERM during a write leaves no temporary file behind."""

import json
import re
import resource
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from more_lib.core import io
from more_lib.core.errors import DataError
from more_lib.evaluate import length_bias
from tests.test_reward import REPO

# the stated limits (docs/troubleshooting.md), pinned here as numbers
MAX_LINE_BYTES, MAX_TEXT_CHARS, MAX_JSON_DEPTH = 1 << 20, 100_000, 64
GOOD = {"id": "a", "source": "s", "prompt": "human: hi ", "chosen": "hello", "rejected": "go"}


def jsonl(path, *lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def nested(depth, **fields):
    """A record whose deepest value sits `depth` levels down (the record itself is level 1)."""
    return json.dumps({**GOOD, **fields, "meta": {"x": json.loads("[" * (depth - 2) + "]" * (depth - 2))}})


@pytest.mark.parametrize("line, message", [
    (json.dumps({**GOOD, "chosen": "a" * MAX_LINE_BYTES}), r"2: a line over 1,048,576 bytes \(io.MAX_LINE_BYTES\)"),
    (json.dumps({**GOOD, "chosen": "a" * (MAX_TEXT_CHARS + 1)}),
     r"2: field 'chosen' holds 100,001 characters, over 100,000 \(data.MAX_TEXT_CHARS\)"),
    ("[" * 100_000 + "]" * 100_000, r"2: JSON nested deeper than 64 levels \(io.MAX_JSON_DEPTH\)"),
    (nested(MAX_JSON_DEPTH + 1), r"2: JSON nested deeper than 64 levels \(io.MAX_JSON_DEPTH\)"),
    (json.dumps({**GOOD, "meta": {"reward_chosen": "1.5", "reward_rejected": 0.5}}),
     r"2: field 'meta.reward_chosen' must be a number, got '1.5'"),
], ids=["line over 1 MB", "text over 100,000 characters", "100,000 deep", "65 deep", "meta reward a string"])
def test_input_over_its_bounds_fails_naming_file_and_line(tmp_path, line, message):
    """Each through the length-bias reader, the one that met a string reward with a TypeError. Line 1 is
    at every bound (a text of MAX_TEXT_CHARS, nested MAX_JSON_DEPTH deep) and reads."""
    at_bounds = nested(MAX_JSON_DEPTH, chosen="a" * MAX_TEXT_CHARS)
    path = jsonl(tmp_path / "test.jsonl", at_bounds, line)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{message}$"):
        length_bias.pair_lengths(path)


def _two_gigabytes():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a reader that slurps /dev/zero stops here


@pytest.mark.parametrize("train", ["/dev/zero", "folder"])
def test_a_data_path_that_is_no_regular_file_fails_in_one_line(tmp_path, train):
    train = tmp_path if train == "folder" else train
    spec = {"kind": "jsonl", "train": str(train), "test": str(jsonl(tmp_path / "test.jsonl", json.dumps(GOOD)))}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "data" / "prepare_data.py"), "--source", "s", "--spec", json.dumps(spec),
         "--world", "{}", "--seed", "1", "--train", out / "train.jsonl", "--test", out / "test.jsonl",
         "--report", out / "report.json"],
        check=False, capture_output=True, text=True, timeout=120, preexec_fn=_two_gigabytes)
    assert (result.returncode, result.stderr.splitlines()) == (1, [f"error: {train}: not a regular file"])


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MB filesystem (tmpfs), or the skip that says why there is none."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small filesystem with")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=False,
                          capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot mount a 2 MB tmpfs: {made.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)  # lazy: a failed save may hold its file open


def test_a_checkpoint_save_on_a_full_disk_says_the_room_it_needs(small_disk):
    path = small_disk / "run.ckpt" / "state.pt"
    state = {"model": {"weight": torch.zeros(1 << 20)}, "step": 4}  # 4.2 MB of float32 on a 2 MB disk
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: the disk is full: writing it needs about "
                                        r"4\.2 MB, [0-9.]+ MB free$"):
        io.atomic_torch_save(state, path)
    assert list(path.parent.iterdir()) == []  # the temporary file is gone


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """The 8 MB checkpoint a job was writing when Snakemake or SLURM cancelled it."""
    writer = ("import sys, time\nfrom more_lib.core import io\n"
              "with io.atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(bytes(8 << 20))\n"
              "    print('written', flush=True)\n"
              "    time.sleep(120)\n")
    job = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path / "state.pt")], stdout=subprocess.PIPE,
                           text=True, cwd=REPO)
    assert job.stdout.readline() == "written\n"
    assert [p.suffix for p in tmp_path.iterdir()] == [".tmp"]
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
