"""The synthetic world: known rewards, sampled Bradley-Terry labels, an oracle for any text."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from transformers import AutoTokenizer

from more_lib.data import synthetic
from more_lib.reward import models

CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
WORLD = CONFIG["synthetic"]
SOURCES = CONFIG["sources"]


def generate(name, split="train", seed=CONFIG["seed"], n=None):
    spec = dict(SOURCES[name], **({f"n_{split}": n} if n else {}))
    return synthetic.generate_split(name, spec, WORLD, seed, split)


def test_same_seed_same_world_other_seed_other_world():
    assert generate("helpful", n=50) == generate("helpful", n=50)
    assert generate("helpful", n=50) != generate("helpful", n=50, seed=1)
    assert generate("helpful", "train", n=50) != generate("helpful", "test", n=50)


def test_the_five_sources_of_the_paper_differ_in_size_drift_and_style():
    assert list(SOURCES) == ["helpful", "harmless", "oasst1", "webgpt", "summ"]
    assert len({s["n_train"] for s in SOURCES.values()}) == 5
    drifts = [tuple(synthetic.drift_weights(WORLD, s["drift"])) for s in SOURCES.values()]
    assert len(set(drifts)) == 5
    mean_length = {n: np.mean([len(r["chosen"].split()) for r in generate(n, n=300)]) for n in SOURCES}
    assert mean_length["summ"] < mean_length["helpful"] < mean_length["webgpt"]
    prefixes = {r["prompt"].split()[0] for n in SOURCES for r in generate(n, n=5)}
    assert len(prefixes) >= 4


def test_meta_holds_the_true_rewards_the_oracle_computes_from_text():
    for r in generate("harmless", n=100):
        drift = SOURCES["harmless"]["drift"]
        assert r["meta"]["reward_chosen"] == pytest.approx(synthetic.oracle_reward(r["prompt"], r["chosen"], WORLD, drift))
        assert r["meta"]["reward_rejected"] == pytest.approx(synthetic.oracle_reward(r["prompt"], r["rejected"], WORLD, drift))
        assert r["meta"]["shared_chosen"] == pytest.approx(synthetic.oracle_reward(r["prompt"], r["chosen"], WORLD))
        beta = SOURCES["harmless"]["beta"]
        expected = 1 / (1 + np.exp(-beta * (r["meta"]["reward_chosen"] - r["meta"]["reward_rejected"])))
        assert r["meta"]["p_chosen"] == pytest.approx(expected)


def test_labels_are_sampled_from_the_bradley_terry_probability():
    records = generate("summ", n=3000)
    margin = np.array([r["meta"]["reward_chosen"] - r["meta"]["reward_rejected"] for r in records])
    beta = SOURCES["summ"]["beta"]
    # A pair's label agrees with its source reward with probability sigmoid(beta * |margin|).
    expected_agreement = np.mean(1 / (1 + np.exp(-beta * np.abs(margin))))
    observed_agreement = np.mean(margin > 0) + 0.5 * np.mean(margin == 0)
    assert observed_agreement == pytest.approx(expected_agreement, abs=0.03)
    assert 0.6 < observed_agreement < 0.95  # real label noise, but a learnable signal


def test_oracle_scores_any_text_including_unknown_words():
    prompt = "human: how to boil an egg assistant: "
    features = dict(zip(synthetic.feature_names(WORLD), synthetic.features(prompt, "explain because zebra egg oven python", WORLD)))
    assert features["informative"] == 2
    assert features["relevance"] == 2  # egg and oven are cooking words; python is off topic
    assert features["length"] == pytest.approx(0.6)
    assert synthetic.oracle_reward(prompt, "", WORLD) == 0.0
    harmful = synthetic.oracle_reward(prompt, "hack steal", WORLD)
    assert harmful < 0 < synthetic.oracle_reward(prompt, "hack steal", WORLD, {"harmful": 2.0})


def test_a_misspelt_drift_feature_is_an_error():
    spec = dict(SOURCES["helpful"], drift={"informativ": 1.0})
    with pytest.raises(ValueError, match="informativ"):
        synthetic.generate_split("helpful", spec, WORLD, 1, "train")


def test_tokenizer_trained_on_the_corpus_loads_with_autotokenizer_and_round_trips(tmp_path):
    records = [r for name in SOURCES for r in generate(name, n=200)]
    texts = [t for r in records for t in (r["prompt"], r["chosen"], r["rejected"])]
    models.train_word_tokenizer(texts).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    sample = records[7]["prompt"] + records[7]["chosen"]
    ids = tokenizer(sample, add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == sample.strip()
    assert tokenizer.pad_token == "[PAD]" and tokenizer.eos_token == "[EOS]"
