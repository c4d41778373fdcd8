"""Alignment: policy examples, the policy training loop (resume, DeepSpeed ZeRO-3), sampling and
best-of-S selection."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM

from more_lib.align import policy, rjs
from more_lib.data import synthetic
from tests.test_reward import CONFIG, REPO, kill_at_first_checkpoint, run, weights, world  # noqa: F401 (world is a fixture)

POLICY = {"tokenizer": None, "template": "{prompt}",
          "config": {"model_type": "gpt_neox", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 64, "max_position_embeddings": 128}}
SETTINGS = {"max_length": 64, "weight_decay": 0.0, "checkpoint_every": 5, "log_every": 2, "lr": 1e-2, "batch_size": 8,
            "epochs": 2, "deepspeed": str(REPO / "config" / "deepspeed" / "zero3.json")}
DECODING = {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 12, "batch_size": 16}


@pytest.fixture(scope="module")
def tokenizer(world):  # noqa: F811
    return policy.load_policy_tokenizer(world["base"]["tokenizer"])


def train_command(world, output, max_steps=None, launcher=(sys.executable,)):  # noqa: F811
    spec = dict(POLICY, tokenizer=world["base"]["tokenizer"])
    command = [*launcher, str(REPO / "scripts" / "align" / "train_policy.py"), "--policy", json.dumps(spec),
               "--pairs", str(world["files"][0]), "--responses", "chosen", "rejected",
               "--settings", json.dumps(SETTINGS), "--seed", "3", "--output", str(output),
               "--checkpoint-dir", str(output) + ".ckpt"]
    return command + (["--max-steps", str(max_steps)] if max_steps else [])


def test_examples_mask_the_prompt_and_learn_the_response_and_eos(tokenizer):
    ids, labels = policy.example_ids(tokenizer, "human: how to boil an egg assistant:", "explain step water", 64)
    assert len(ids) == len(labels) == 7 + 3 + 1
    assert labels[:7] == [policy.IGNORE] * 7 and labels[7:] == ids[7:]
    assert ids[-1] == tokenizer.eos_token_id
    short_ids, short_labels = policy.example_ids(tokenizer, "human: how to boil an egg assistant:",
                                                 "explain step water", 5)
    assert short_ids == ids[-5:] and short_labels == labels[-5:]  # cut from the left: the response stays


def test_bucketed_token_losses_equal_one_padded_batch(world, tokenizer):  # noqa: F811
    """Summed NLL, token count and every gradient, in length buckets against one batch."""
    records = [json.loads(line) for line in world["files"][0].read_text().splitlines()][:12]
    examples = [policy.example_ids(tokenizer, r["prompt"], r[side], 64) for r in records for side in ("chosen", "rejected")]
    assert len({len(ids) for ids, _ in examples}) > 1  # one batch does pad
    results = []
    for buckets in (1, 3):
        model = policy.build_policy(dict(POLICY, tokenizer=world["base"]["tokenizer"]), tokenizer, seed=3)
        nll, tokens = policy.bucketed_token_losses(model, tokenizer, examples, buckets)
        nll.backward()
        results.append((nll.detach(), tokens, {name: p.grad for name, p in model.named_parameters()}))
    (nll_one, tokens_one, grads_one), (nll_bucketed, tokens_bucketed, grads_bucketed) = results
    assert tokens_bucketed == tokens_one
    torch.testing.assert_close(nll_bucketed, nll_one, rtol=1e-6, atol=1e-4)
    for name, grad in grads_one.items():
        torch.testing.assert_close(grads_bucketed[name], grad, rtol=0, atol=1e-5, msg=name)


@pytest.mark.slow  # real training runs, killed and resumed
def test_policy_training_learns_and_resumes_after_kill_with_the_same_weights(world, tmp_path):  # noqa: F811
    run(train_command(world, tmp_path / "straight"))
    log = pd.read_csv(tmp_path / "straight" / "train_log.csv")
    assert len(log) == 2 * 40  # two epochs of 160 pairs x 2 responses in batches of 8
    # responses are mostly random words (entropy about 4.3 nats a token): learning shows as a steady drop
    assert log["loss"].tail(10).mean() < log["loss"].head(5).mean() - 0.15

    killed = tmp_path / "killed"
    kill_at_first_checkpoint(train_command(world, killed), killed)
    assert "resumed from the checkpoint at step" in run(train_command(world, killed))
    straight, resumed = weights(tmp_path / "straight"), weights(killed)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


@pytest.mark.deepspeed
def test_policy_under_deepspeed_zero3_on_two_cpu_ranks_matches_the_plain_step(world, tmp_path):  # noqa: F811
    run(train_command(world, tmp_path / "plain", max_steps=1))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541"]
    run(train_command(world, tmp_path / "ds", max_steps=1, launcher=torchrun))
    plain_log, ds_log = (pd.read_csv(tmp_path / p / "train_log.csv") for p in ("plain", "ds"))
    assert ds_log["loss"][0] == pytest.approx(plain_log["loss"][0], rel=1e-4)
    assert ds_log["tokens"][0] == plain_log["tokens"][0]
    plain, ds = weights(tmp_path / "plain"), weights(tmp_path / "ds")
    moved = [name for name in plain if not torch.allclose(plain[name], ds[name], atol=0.25 * SETTINGS["lr"])]
    assert not moved, moved
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "ds").config.vocab_size == plain["gpt_neox.embed_in.weight"].shape[0]


def test_policy_folder_loads_and_samples_reproducibly(world, tmp_path):  # noqa: F811
    run(train_command(world, tmp_path / "policy", max_steps=10))
    model, tokenizer = policy.load_policy(tmp_path / "policy"), policy.load_policy_tokenizer(tmp_path / "policy")
    assert isinstance(model, torch.nn.Module) and type(model).__name__ == "GPTNeoXForCausalLM"
    prompts = ["human: how to boil an egg assistant:", "human: cheap flight to the city assistant:"]
    first = policy.generate(model, tokenizer, prompts, DECODING, seed=5, samples=3)
    assert len(first) == 6 and first == policy.generate(model, tokenizer, prompts, DECODING, seed=5, samples=3)
    assert len(set(first)) > 1  # sampling gives varied responses
    vocabulary = set(tokenizer.get_vocab())
    assert all(set(response.split()) <= vocabulary for response in first)
    greedy = policy.generate(model, tokenizer, prompts, dict(DECODING, do_sample=False), seed=1)
    assert greedy == policy.generate(model, tokenizer, prompts, dict(DECODING, do_sample=False), seed=2)


def test_best_of_s_keeps_the_highest_reward_and_the_oracle_sees_the_gain():
    universe = CONFIG["synthetic"]
    prompt = "human: how to boil an egg assistant: "
    good, bad = "explain egg boil step because", "weapon hurt poison the the"
    samples = pd.DataFrame({"id": ["a"] * 3 + ["b"] * 3, "source": ["helpful"] * 6, "prompt": [prompt] * 6,
                            "sample": [0, 1, 2] * 2, "response": [bad, good, bad, good, bad, good]})
    drifts = {"helpful": CONFIG["sources"]["helpful"]["drift"]}
    oracle = rjs.oracle_rewards(samples, universe, drifts)
    assert oracle[1] == synthetic.oracle_reward(prompt, good, universe, drifts["helpful"]) > oracle[0]

    best = rjs.best_of(samples, [0.1, 0.9, 0.3, 0.5, 0.2, 0.5])  # b: a tie goes to the first sample
    assert best["sample"].tolist() == [1, 0] and best["response"].tolist() == [good, good]

    informed = rjs.selection_summary(samples, oracle, oracle).iloc[0]
    blind = rjs.selection_summary(samples, -oracle, oracle).iloc[0]
    assert informed["oracle_selected"] == informed["oracle_best"] > informed["oracle_all"]
    assert informed["oracle_gain"] > 0 > blind["oracle_gain"]
    assert informed["prompts"] == 2 and informed["samples"] == 6
    assert np.isclose(informed["oracle_all"], oracle.mean())


def test_unique_prompts_keeps_the_first_of_repeated_prompts():
    records = [{"id": str(i), "source": "helpful", "prompt": p} for i, p in enumerate("xxyzy")]
    assert [r["id"] for r in rjs.unique_prompts(records, 10)] == ["0", "2", "3"]
    assert [r["id"] for r in rjs.unique_prompts(records, 2)] == ["0", "2"]
