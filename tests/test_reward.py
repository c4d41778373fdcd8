"""Reward models: Hugging Face round trip, scoring, and the training loop's resume and DeepSpeed paths."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from more_lib.core import names
from more_lib.data import records as data
from more_lib.data import synthetic
from more_lib.evaluate import tables
from more_lib.reward import models, scoring

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
BASE_CONFIG = {"model_type": "gpt_neox", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 64, "max_position_embeddings": 128}
SETTINGS = {**CONFIG["reward"], "pairs_per_source": 4, "checkpoint_every": 4,
            "deepspeed": str(REPO / "config" / "deepspeed" / "zero2.json")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three small synthetic sources, their training files and a tokenizer trained on them.
    (Three, because with K = 2 and l2-normalised gradients the min-norm λ is always (1/2, 1/2).)"""
    root = tmp_path_factory.mktemp("world")
    files, texts = [], []
    for name in ("helpful", "harmless", "oasst1"):
        spec = dict(CONFIG["sources"][name], n_train=160, n_test=40)
        records = synthetic.generate_split(name, spec, CONFIG["synthetic"], 5, "train")
        data.write_records(records, root / f"{name}.jsonl")
        files.append(root / f"{name}.jsonl")
        texts += [t for r in records for t in (r["prompt"], r["chosen"], r["rejected"])]
    models.train_word_tokenizer(texts).save_pretrained(root / "tokenizer")
    base = {"tokenizer": str(root / "tokenizer"), "config": BASE_CONFIG}
    return {"root": root, "files": files, "base": base}


def train_command(world, output, scheme="more", max_steps=None, launcher=(sys.executable,), settings=SETTINGS):
    command = [*launcher, str(REPO / "scripts" / "reward" / "train_rm.py"), "--base", json.dumps(world["base"]),
               "--scheme", scheme, "--train", *map(str, world["files"]), "--settings", json.dumps(settings),
               "--seed", "11", "--output", str(output), "--checkpoint-dir", str(output) + ".ckpt"]
    return command + (["--max-steps", str(max_steps)] if max_steps else [])


def run(command):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def kill_at_first_checkpoint(command, output, state="state.pt"):
    """Start a training run and SIGKILL it, and every rank torchrun started (each in a session of its
    own), once its first checkpoint is on disk."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = Path(str(output) + ".ckpt") / state
    while not state.exists() and process.poll() is None:
        time.sleep(0.02)
    tree = psutil.Process(process.pid)
    for member in [*tree.children(recursive=True), tree]:
        member.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output / "model.safetensors").exists(), "the run finished before it could be killed"


def weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def test_checkpoint_is_a_plain_hf_folder_with_the_same_rewards(world, tmp_path):
    tokenizer = models.load_tokenizer(world["base"])
    model = models.build_reward_model(world["base"], tokenizer, seed=3)
    models.save_pretrained(model, tokenizer, tmp_path / "rm")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "rm")
    assert loaded_tokenizer.truncation_side == "left" and loaded_tokenizer.padding_side == "right"
    records = data.read_records(world["files"][0])[:6]
    texts = [r["prompt"] + r["chosen"] for r in records] + ["human: egg assistant: explain"]
    batch = models.encode_texts(loaded_tokenizer, texts, max_length=24)
    assert batch["attention_mask"].sum(1).min() < batch["attention_mask"].shape[1]  # padding present
    ours, z = models.rewards_and_features(model.eval(), batch)
    theirs = loaded(**batch).logits[:, 0]  # the library's own last-non-pad pooling
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(model.score(z)[:, 0], ours)
    kept = loaded_tokenizer(texts[0], truncation=True, max_length=5)["input_ids"]
    assert kept == loaded_tokenizer(texts[0])["input_ids"][-5:]  # truncation keeps the end


def test_head_initialisation_is_seeded(world):
    tokenizer = models.load_tokenizer(world["base"])
    first, again, other = (models.build_reward_model(world["base"], tokenizer, seed) for seed in (1, 1, 2))
    assert torch.equal(first.score.weight, again.score.weight)
    assert not torch.equal(first.score.weight, other.score.weight)


def test_length_bucketing_gives_the_same_rewards_as_plain_batches(world):
    tokenizer = models.load_tokenizer(world["base"])
    model = models.build_reward_model(world["base"], tokenizer, seed=3)
    texts = [r["prompt"] + r["chosen"] for r in data.read_records(world["files"][1])[:50]]
    bucketed = scoring.score_texts(model, tokenizer, texts, 96, batch_size=8)
    plain = scoring.score_texts(model, tokenizer, texts, 96, batch_size=8, bucketing=False)
    one_by_one = scoring.score_texts(model, tokenizer, texts, 96, batch_size=1)
    np.testing.assert_allclose(bucketed, plain, atol=1e-5)
    np.testing.assert_allclose(bucketed, one_by_one, atol=1e-5)


@pytest.mark.slow  # real training runs, killed and resumed
def test_more_training_logs_lambda_on_the_simplex_and_resume_after_kill_matches(world, tmp_path):
    run(train_command(world, tmp_path / "straight"))
    log = pd.read_csv(tmp_path / "straight" / "train_log.csv")
    assert len(log) == 40  # one epoch: 160 pairs / 4 per source
    lam = log[["lambda_helpful", "lambda_harmless", "lambda_oasst1"]].to_numpy()
    assert (lam >= 0).all() and np.allclose(lam.sum(1), 1)
    assert lam.std(axis=0).max() > 0  # λ moves with the batch

    killed = tmp_path / "killed"
    kill_at_first_checkpoint(train_command(world, killed), killed)
    output = run(train_command(world, killed))
    assert "resumed from the checkpoint at step" in output
    straight, resumed = weights(tmp_path / "straight"), weights(killed)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    pd.testing.assert_frame_equal(log.drop(columns="seconds"),
                                  pd.read_csv(killed / "train_log.csv").drop(columns="seconds"))


@pytest.mark.deepspeed
def test_deepspeed_on_two_cpu_ranks_matches_the_plain_step(world, tmp_path):
    """One MORE step under DeepSpeed ZeRO-2 (gloo, 2 ranks, half the pairs each) against the plain loop."""
    run(train_command(world, tmp_path / "plain", max_steps=1))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    run(train_command(world, tmp_path / "ds", max_steps=1, launcher=torchrun))
    plain_log, ds_log = (pd.read_csv(tmp_path / p / "train_log.csv") for p in ("plain", "ds"))
    for column in ["loss", "lambda_helpful", "lambda_oasst1", "loss_helpful"]:
        assert ds_log[column][0] == pytest.approx(plain_log[column][0], abs=1e-5)
    plain, ds = weights(tmp_path / "plain"), weights(tmp_path / "ds")
    untrained = models.build_reward_model(world["base"], models.load_tokenizer(world["base"]), 11).state_dict()
    for name in plain:  # compare the updates, not just the weights
        step_plain, step_ds = plain[name] - untrained[name], ds[name] - untrained[name]
        # Adam's first step is about lr * sign(gradient): parameters whose gradient is ~0 may differ
        assert (step_plain - step_ds).abs().max() <= 0.25 * SETTINGS["lr"], name
        assert step_plain.abs().max() > 0 or name.endswith("bias")


@pytest.mark.deepspeed
def test_zero3_on_two_cpu_ranks_resumes_after_kill_bit_for_bit(world, tmp_path):
    """The Llama bases' path: ZeRO-3 checkpoints (one DeepSpeed tag per step, named by `latest` once
    written), killed at the first and resumed, against an uninterrupted run."""
    settings = {**SETTINGS, "deepspeed": str(REPO / "config" / "deepspeed" / "zero3.json")}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547"]
    run(train_command(world, tmp_path / "straight", launcher=torchrun, settings=settings, max_steps=12))
    killed = tmp_path / "killed"
    kill_at_first_checkpoint(train_command(world, killed, launcher=torchrun, settings=settings, max_steps=12), killed,
                             state="latest")
    # Killed the moment `latest` appeared: the tag it names already holds both ranks' ZeRO shards, whole.
    ckpt = Path(str(killed) + ".ckpt")
    shards = sorted((ckpt / (ckpt / "latest").read_text()).glob("zero_pp_rank_*_optim_states.pt"))
    assert len(shards) == 2, shards
    for shard in shards:
        torch.load(shard, weights_only=False, mmap=True)
    output = run(train_command(world, killed, launcher=torchrun, settings=settings, max_steps=12))
    assert "resumed from the checkpoint at step 4" in output
    straight, resumed = weights(tmp_path / "straight"), weights(killed)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_top_and_averaging_come_from_the_single_source_rms():
    ids = ["a", "b"]
    scores = {(names.single(s), t): pd.DataFrame({"id": ids, "r_chosen": [i + 1.0, 2.0], "r_rejected": [0.0, i * 1.0]})
              for i, s in enumerate(["x", "y"]) for t in ["x", "y"]}
    derived = tables.derived_scores(scores, ["x", "y"])
    assert derived[("top", "y")] is scores[("single-y", "y")]
    assert derived[("averaging", "x")]["r_chosen"].tolist() == [1.5, 2.0]
    assert derived[("averaging", "x")]["r_rejected"].tolist() == [0.0, 0.5]
