"""Padding-free (packed) batches give the padded path's rewards, losses and MORE head gradients."""

import pytest
import torch

from more_lib.data import synthetic
from more_lib.reward import models, scoring, train
from tests.test_reward import BASE_CONFIG, CONFIG

LLAMA_CONFIG = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 256}
SOURCES = ("helpful", "harmless", "oasst1")
TOLERANCE = {"rtol": 0, "atol": 1e-5}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("packing")
    records = {name: synthetic.generate_split(name, dict(CONFIG["sources"][name], n_train=40, n_test=10),
                                              CONFIG["synthetic"], 7, "train") for name in SOURCES}
    texts = [t for rs in records.values() for r in rs for t in (r["prompt"], r["chosen"], r["rejected"])]
    models.train_word_tokenizer(texts).save_pretrained(root / "tokenizer")
    return {"tokenizer": str(root / "tokenizer"), "records": [records[name] for name in SOURCES]}


def reward_model(world, config, seed=3):
    base = {"tokenizer": world["tokenizer"], "config": config}
    tokenizer = models.load_tokenizer(base)
    return models.build_reward_model(base, tokenizer, seed), tokenizer


@pytest.mark.parametrize("config", [BASE_CONFIG, LLAMA_CONFIG], ids=["gpt_neox", "llama"])
def test_packed_scoring_equals_padded(world, config):
    model, tokenizer = reward_model(world, config)
    texts = [r["prompt"] + r[side] for records in world["records"] for r in records for side in ("chosen", "rejected")]
    padded = scoring.score_texts(model, tokenizer, texts, 96, batch_size=16)
    packed = scoring.score_texts(model, tokenizer, texts, 96, batch_size=16, packed=True)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=96)["input_ids"]]
    assert min(lengths) < max(lengths)  # the padded batches do pad
    torch.testing.assert_close(torch.from_numpy(packed), torch.from_numpy(padded), **TOLERANCE)
    print(f"\n{config['model_type']}: max |packed - padded| reward = {abs(packed - padded).max():.2e}")


def test_packing_keeps_attention_within_each_text(world):
    """A text's reward does not depend on its neighbours in the row (attention would leak without the
    packed mask: this fails if the position ids are dropped)."""
    model, tokenizer = reward_model(world, BASE_CONFIG)
    ids = tokenizer(["human: egg assistant: explain", "human: tea assistant: no"])["input_ids"]
    alone = models.rewards_and_features(model.eval(), models.pack(ids[1:]))[0]
    together = models.rewards_and_features(model, models.pack(ids))[0]
    torch.testing.assert_close(together[1:], alone, **TOLERANCE)
    leaked = model(input_ids=models.pack(ids)["input_ids"], output_hidden_states=True).hidden_states[-1][0, -1]
    assert not torch.allclose(leaked, models.rewards_and_features(model, models.pack(ids))[1][1], atol=1e-5)


@pytest.mark.parametrize("config", [BASE_CONFIG, LLAMA_CONFIG], ids=["gpt_neox", "llama"])
@pytest.mark.parametrize("scheme", ["multitask", "more"])
@pytest.mark.parametrize("layout", [{"packed": True}, {"buckets": 3}], ids=["packed", "bucketed"])
def test_packed_or_bucketed_training_step_equals_padded(world, config, scheme, layout):
    """Loss, per-source losses, MORE's λ and every parameter's gradient of one training step: padding-free,
    or in length buckets (models.bucket: the rows must come back in input order, chosen before rejected)."""
    settings = {**CONFIG["reward"], "max_length": 96}
    indices = [list(range(8))] * len(SOURCES)
    results = {}
    for other in (False, True):
        model, tokenizer = reward_model(world, config)
        batch = train.encode_step(tokenizer, world["records"], indices, settings["max_length"], **(layout if other else {}))
        assert ("buckets" in batch) == (other and "buckets" in layout)
        loss, row = train.train_step(model, batch, list(SOURCES), scheme, {}, settings)
        loss.backward()
        results[other] = loss.detach(), row, {name: p.grad for name, p in model.named_parameters()}
    (loss_padded, row_padded, grads_padded), (loss_packed, row_packed, grads_packed) = results[False], results[True]
    torch.testing.assert_close(loss_packed, loss_padded, **TOLERANCE)
    assert row_packed.keys() == row_padded.keys()
    for key in row_padded:
        assert row_packed[key] == pytest.approx(row_padded[key], abs=1e-5), key
    for name, grad in grads_padded.items():
        torch.testing.assert_close(grads_packed[name], grad, **TOLERANCE, msg=name)
