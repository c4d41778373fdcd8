"""The paper-mini hub (more_lib/hub/paper_mini.py): every repository config/paper.yaml names, laid out as
the local hub server serves it, read by the project's own converters and model loaders."""

import hashlib
import re
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from more_lib.align import policy
from more_lib.data import prepare
from more_lib.hub import paper_mini
from more_lib.hub import plan as hub
from more_lib.reward import models

REPO = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
SYNTH = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PAIRS, TEST_PAIRS, STEPS, SEED = 24, 12, 15, PAPER["seed"]
LLAMAS = ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "chavinlo/alpaca-native"]
PYTHIAS = ["EleutherAI/pythia-1.4b", "EleutherAI/pythia-2.8b"]


def build(root):
    return paper_mini.build(root, PAPER, SYNTH, PAIRS, TEST_PAIRS, seed=SEED, steps=STEPS)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-mini")
    return root, build(root)


def digests(root):
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(Path(root).rglob("*")) if f.is_file()}


def test_every_repository_the_paper_config_names_is_written_in_its_hub_layout(mini):
    root, summary = mini
    wanted = {paper_mini.repo_dir(root, f"{e['type']}s", e["id"], e["requested"]) for e in hub.plan(PAPER).values()}
    assert {folder for folder, files, size in summary} == wanted and len(wanted) == 9
    assert all(files > 0 and size > 0 for _, files, size in summary)
    files = sorted(str(f.relative_to(root / "datasets")) for f in (root / "datasets").rglob("*") if f.is_file())
    oasst = [f.split("/")[-1] for f in files if "oasst1" in f]
    assert [f for f in files if "oasst1" not in f] == [
        "Anthropic/hh-rlhf/main/harmless-base/test.jsonl.gz", "Anthropic/hh-rlhf/main/harmless-base/train.jsonl.gz",
        "Anthropic/hh-rlhf/main/helpful-base/test.jsonl.gz", "Anthropic/hh-rlhf/main/helpful-base/train.jsonl.gz",
        "openai/summarize_from_feedback/refs%2Fconvert%2Fparquet/comparisons/train/0000.parquet",
        "openai/summarize_from_feedback/refs%2Fconvert%2Fparquet/comparisons/validation/0000.parquet",
        "openai/webgpt_comparisons/refs%2Fconvert%2Fparquet/default/train/0000.parquet"]
    assert [re.sub("[0-9a-f]{16}", "<hash>", name) for name in oasst] == [
        "train-00000-of-00001-<hash>.parquet", "validation-00000-of-00001-<hash>.parquet"]
    for folder in [f for f, _, _ in summary if "models" in f.parts]:
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "generation_config.json", "model.safetensors",
                                                           "tokenizer.json", "tokenizer_config.json"]


@pytest.mark.parametrize("name", list(PAPER["sources"]))
def test_each_source_converts_to_the_synthetic_pairs(mini, name):
    root, _ = mini
    spec = PAPER["sources"][name]
    splits, report = prepare.prepare_source(name, paper_mini.local_spec(root, spec), SYNTH["synthetic"], SEED)
    recs = paper_mini.synthetic_pairs(name, spec, SYNTH, PAIRS, TEST_PAIRS, SEED)
    counts = {row["split"]: (row["rows_read"], row["kept"], row["dropped"]) for row in report}
    if spec["kind"] == "webgpt":  # one hub split, its test questions drawn by the converter; ties dropped
        everything = recs["train"] + recs["test"]
        ties = sum(r["meta"]["p_chosen"] <= 0.5 for r in everything)
        assert len(everything) == round(TEST_PAIRS / spec["test_fraction"])
        assert sum(c[0] for c in counts.values()) == len(everything)
        assert sum(c[1] for c in counts.values()) == len(everything) - ties
        assert sum(c[2].get("tie", 0) for c in counts.values()) == ties
        assert 0.5 * TEST_PAIRS < counts["test"][1] < 1.5 * TEST_PAIRS
        synthetic = {(r["chosen"], r["rejected"]) for r in everything}
        assert all((r["chosen"], r["rejected"]) in synthetic for split in splits.values() for r in split)
        return
    for split, n in (("train", PAIRS), ("test", TEST_PAIRS)):
        # oasst1: a prompt and two ranked replies a tree, every 4th tree a reply nobody ranked
        unranked = n // 4 if spec["kind"] == "oasst1" else 0
        assert counts[split] == (n + (2 * n + unranked) * (spec["kind"] == "oasst1"), n,
                                 {"unranked": unranked} if unranked else {})
        assert [(r["chosen"], r["rejected"]) for r in splits[split]] == [(r["chosen"], r["rejected"]) for r in recs[split]]
        assert all(r["prompt"].rstrip().endswith(("Assistant:", "TL;DR:")) for r in splits[split])


@pytest.mark.parametrize("repo", PYTHIAS + LLAMAS)
def test_each_model_loads_as_the_project_loads_it(mini, repo):
    root, _ = mini
    folder = str(paper_mini.repo_dir(root, "models", repo))
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == ("LlamaTokenizer" if repo in LLAMAS else "GPTNeoXTokenizer")
    tokenizer = models.load_tokenizer({"pretrained": folder})
    assert (tokenizer.padding_side, tokenizer.truncation_side) == ("right", "left")
    if repo in LLAMAS:  # Llama ships without a pad token: the project pads with EOS; ids like Llama-2's
        assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "</s>", "</s>")
        assert tokenizer.convert_tokens_to_ids(["<unk>", "<s>", "</s>", "<0x0A>"]) == [0, 1, 2, 13]
        assert tokenizer("Hi")["input_ids"][0] == 1
    else:  # Pythia: <|endoftext|> = 0; transformers 5's GPTNeoXTokenizer pads with <|padding|> = 1
        assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 0, 1)
    text = "\n\nHuman: how long to boil an egg, Zoë?\n\nAssistant: about nine minutes"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    model = models.build_reward_model({"pretrained": folder}, tokenizer, seed=0)
    assert isinstance(model, AutoModelForSequenceClassification._model_mapping[type(model.config)])
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    batch = models.encode_texts(tokenizer, [text, "\n\nHuman: hi\n\nAssistant: hello"], max_length=512)
    rewards, _ = models.rewards_and_features(model, batch)
    assert rewards.shape == (2,) and torch.isfinite(rewards).all()


@pytest.mark.parametrize("repo", PYTHIAS + LLAMAS)
def test_pretraining_lowered_the_lm_loss_on_unseen_pairs(mini, repo):
    root, _ = mini
    folder = str(paper_mini.repo_dir(root, "models", repo))
    tokenizer = policy.load_policy_tokenizer(folder)
    trained = policy.load_policy(folder)
    torch.manual_seed(0)
    fresh = AutoModelForCausalLM.from_config(trained.config, dtype=torch.float32)
    recs = paper_mini.synthetic_pairs("helpful", PAPER["sources"]["helpful"], SYNTH, PAIRS, TEST_PAIRS, SEED)["test"]
    prompts = [f"\n\nHuman: {r['prompt']}\n\nAssistant: " for r in recs]
    if repo == PAPER["policy"]["pretrained"]:  # Alpaca: replies to prompts in its template
        prompts = [policy.render(PAPER["policy"]["template"], prompt) for prompt in prompts]
    examples = [policy.example_ids(tokenizer, prompt, r["chosen"], 256) for prompt, r in zip(prompts, recs)]
    trained_ppl, fresh_ppl = (policy.perplexity(m, tokenizer, examples, 16)[0] for m in (trained, fresh))
    assert trained_ppl < 0.5 * fresh_ppl


@pytest.mark.slow  # a second build
def test_the_same_seed_writes_the_same_bytes_and_nothing_stale_stays(mini, tmp_path):
    root, _ = mini
    stale = [paper_mini.repo_dir(tmp_path, "datasets", "OpenAssistant/oasst1") / "data/train-00000-of-00001-0.parquet",
             paper_mini.repo_dir(tmp_path, "models", "EleutherAI/pythia-1.4b") / "pytorch_model.bin"]
    for path in stale:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"stale")
    build(tmp_path)
    assert digests(tmp_path) == digests(root)
