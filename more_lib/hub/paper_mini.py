"""The paper-mini world: every hub repository config/paper.yaml names, tiny, as the local hub server
serves it: ROOT/{datasets|models}/{owner}/{name}/{quoted branch}/<files>. Datasets: the synthetic
world's pairs (config/config.yaml) in each hub's schema, dtypes and layout. Models: tiny Pythia and
Llama-2 checkpoints and tokenizers, briefly pre-trained on those texts; the policy (Alpaca) is the
first Llama base trained on replies to Alpaca-template prompts. Every byte follows from the seed.
"""

import gzip
import hashlib
import json
import shutil
import urllib.parse
import uuid
from pathlib import Path

import datasets
import numpy as np
import torch
from datasets import Features, List, Value
from tokenizers import Tokenizer, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import AutoConfig, AutoModelForCausalLM, GPTNeoXTokenizer, LlamaTokenizer

from more_lib.align import policy
from more_lib.core import device
from more_lib.core.errors import ConfigError
from more_lib.core.seeding import rng_for
from more_lib.data import converters, synthetic
from more_lib.reward import models

STRING, INT32, FLOAT64 = Value("string"), Value("int32"), Value("float64")
DETOXIFY = ("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit")
# The hubs' Features, as in tests/hub_fixtures.py (library code imports nothing from tests/)
OASST_FEATURES = Features({
    "message_id": STRING, "parent_id": STRING, "user_id": STRING, "created_date": STRING, "text": STRING,
    "role": STRING, "lang": STRING, "review_count": INT32, "review_result": Value("bool"), "deleted": Value("bool"),
    "rank": INT32, "synthetic": Value("bool"), "model_name": STRING, "detoxify": {key: FLOAT64 for key in DETOXIFY},
    "message_tree_id": STRING, "tree_state": STRING, "emojis": {"name": List(STRING), "count": List(INT32)},
    "labels": {"name": List(STRING), "value": List(FLOAT64), "count": List(INT32)}})
WEBGPT_FEATURES = Features({"question": {"dataset": STRING, "id": STRING, "full_text": STRING}, **{
    key: kind for k in (0, 1) for key, kind in [(f"quotes_{k}", {"title": List(STRING), "extract": List(STRING)}),
    (f"answer_{k}", STRING), (f"tokens_{k}", {"prefix": List(Value("int64")), "completion": List(Value("int64"))}),
    (f"score_{k}", FLOAT64)]}})
SUMM_FEATURES = Features({
    "info": {key: STRING for key in ("id", "post", "title", "subreddit", "site", "article")},
    "summaries": List({"text": STRING, "policy": STRING, "note": STRING}),
    "choice": INT32, "worker": STRING, "batch": STRING, "split": STRING, "extra": {"confidence": INT32}})
LM_MAX_LENGTH = 256
HH = lambda r: converters.HH_HUMAN + r["prompt"] + converters.HH_ASSISTANT
UUID = lambda rng: str(uuid.UUID(bytes=rng.bytes(16), version=4))


def repo_dir(root, kind, repo_id, branch=None):
    return Path(root) / kind / repo_id / urllib.parse.quote(branch or "main", safe="")


def local_spec(root, spec):
    """A config/paper.yaml source spec that reads the local branch folder (no revision)."""
    return {**{k: v for k, v in spec.items() if k != "revision"},
            "path": str(repo_dir(root, "datasets", spec["path"], spec.get("revision")))}


def synthetic_pairs(name, spec, synth, pairs, test_pairs, seed):
    """{split: synthetic records} of source `name`, prompts stripped of the style's markers; webgpt
    gets enough that the converter's test questions (`test_fraction` of all) number ~`test_pairs`."""
    if spec["kind"] == "webgpt":
        pairs = max(pairs, round(test_pairs / spec.get("test_fraction", 0.05)) - test_pairs)
    source = {**synth["sources"][name], "n_train": pairs, "n_test": test_pairs}
    marks = source["style"]["prompt_prefix"], source["style"]["prompt_suffix"]
    strip = lambda p: p.strip().removeprefix(marks[0]).removesuffix(marks[1]).strip()
    return {split: [{**r, "prompt": strip(r["prompt"])} for r in synthetic.generate_split(
        name, source, synth["synthetic"], seed, split)] for split in ("train", "test")}


def _write(path, data, features=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if features is None:
        return path.write_bytes(data)
    rows = [{key: row[key] for key in features} for row in data]  # the hub's column order
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))


def _hh(folder, spec, recs, rng, world):
    """Single-turn transcripts, gzip JSON lines (no name or time in the gzip header)."""
    for hub, split in recs.items():
        lines = "".join(json.dumps({side: HH(r) + r[side] for side in ("chosen", "rejected")}) + "\n" for r in split)
        _write(folder / spec["data_dir"] / f"{hub}.jsonl.gz", gzip.compress(lines.encode(), mtime=0))
    return [HH(r) for r in next(iter(recs.values()))]


def _message(rng, tree, parent, text, rank, when):
    return {"message_id": tree if parent is None else UUID(rng), "parent_id": parent, "user_id": UUID(rng),
            "created_date": f"2023-03-{1 + when // 3600 % 28:02d}T{when // 60 % 60:02d}:{when % 60:02d}:00+00:00",
            "text": text, "role": "assistant" if parent else "prompter", "lang": "en",
            "review_count": int(rng.integers(1, 6)), "review_result": True, "deleted": False, "rank": rank,
            "synthetic": False, "model_name": None, "message_tree_id": tree, "tree_state": "ready_for_export",
            "detoxify": {key: round(float(rng.random()) * 1e-3, 6) for key in DETOXIFY}, "labels": None,
            "emojis": {"name": ["+1"], "count": [int(rng.integers(1, 4))]} if rank == 0 else None}


def _oasst1(folder, spec, recs, rng, world):
    """A tree a pair: prompt, chosen (rank 0) and rejected (rank 1) replies; every 4th, one unranked more."""
    for hub, split in recs.items():
        rows = []
        for i, r in enumerate(split):
            tree, replies = UUID(rng), [(r["chosen"], 0), (r["rejected"], 1)] + [(split[i - 1]["chosen"], None)] * (i % 4 == 3)
            rows.append(_message(rng, tree, None, r["prompt"], None, 7 * i))
            rows += [_message(rng, tree, tree, *replies[k], 7 * i + 1 + j) for j, k in enumerate(rng.permutation(len(replies)))]
        digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
        _write(folder / "data" / f"{hub}-00000-of-00001-{digest}.parquet", rows, OASST_FEATURES)
    return [HH(r) for r in next(iter(recs.values()))]


def _webgpt(folder, spec, recs, rng, world):
    """Scores ±1 or ±0.5 by the annotators' confidence, 0 (a tie) where the source's reward has no preference."""
    strength = lambda p: 0.0 if p <= 0.5 else 0.5 if p < 0.8 else 1.0
    for hub, split in recs.items():  # quotes and GPT-2 tokens are never read: left empty
        rows = [{"question": {"dataset": "eli5", "id": rng.bytes(16).hex(), "full_text": r["prompt"]}, **{
            key: value for k, answer in enumerate([r["chosen"], r["rejected"]][::1 - 2 * first]) for key, value in [
                (f"quotes_{k}", {"title": [], "extract": []}), (f"answer_{k}", answer),
                (f"tokens_{k}", {"prefix": [], "completion": []}), (f"score_{k}", s if k == first else -s or 0.0)]}}
            for r in split for first, s in [(int(rng.integers(2)), strength(r["meta"]["p_chosen"]))]]
        _write(folder / "default" / hub / "0000.parquet", rows, WEBGPT_FEATURES)
    return [converters.WEBGPT_PROMPT.format(question=r["prompt"]) for r in next(iter(recs.values()))]


def _summ(folder, spec, recs, rng, world):
    """TL;DR rows: the post is the prompt, its first five words the title, its topic the subreddit."""
    topic_of = {w: topic for topic, words in world["topics"].items() for w in words}
    post = lambda r: {"post": r["prompt"], "title": " ".join(r["prompt"].split()[:5]),
                      "subreddit": topic_of.get(r["prompt"].split()[0], "AskReddit")}
    for hub, split in recs.items():
        rows = [{"info": {"id": "t3_" + rng.bytes(3).hex(), **post(r), "site": None, "article": None},
                 "summaries": [{"text": " " + text, "policy": ["ref", "sup4_ppo_rm3_kl10", "sup2"][rng.integers(3)],
                                "note": None} for text in [r["chosen"], r["rejected"]][::1 - 2 * first]],
                 "choice": first, "worker": rng.bytes(8).hex(), "extra": {"confidence": int(rng.integers(1, 10))},
                 "batch": f"batch{rng.integers(3, 11) if hub == 'train' else rng.integers(11, 21)}",
                 "split": "train" if hub == "train" else f"valid{rng.integers(1, 3)}"}
                for r in split for first in [int(rng.integers(2))]]
        _write(folder / spec.get("data_dir", "comparisons") / hub / "0000.parquet", rows, SUMM_FEATURES)
    return [converters.SUMM_PROMPT.format(**post(r)) for r in next(iter(recs.values()))]


WRITERS = {"hh": _hh, "oasst1": _oasst1, "webgpt": _webgpt, "summ": _summ}


def write_datasets(root, paper, synth, pairs, test_pairs, seed):
    """Write every source's repository branch; return their folders and {source: [(prompt, chosen,
    rejected)]}, `pairs` training pairs as the converters read them (the LMs' corpus)."""
    folders, corpus = [], {}
    for name, spec in paper["sources"].items():
        if spec["kind"] not in WRITERS or name not in synth["sources"]:
            raise ConfigError(f"sources.{name}: paper-mini has no {spec['kind']!r} writer or synthetic source")
        folder = repo_dir(root, "datasets", spec["path"], spec.get("revision"))
        if folder not in folders:  # hh-rlhf holds two sources, one data_dir each
            shutil.rmtree(folder, ignore_errors=True)
            folders.append(folder)
        recs = synthetic_pairs(name, spec, synth, pairs, test_pairs, seed)
        splits = {**converters.DEFAULT_SPLITS.get(spec["kind"], {}), **(spec.get("splits") or {})}
        hub = ({spec.get("split", "train"): recs["train"] + recs["test"]} if spec["kind"] == "webgpt"  # one hub split
               else {hub_split: recs[split] for split, hub_split in splits.items()})
        prompts = WRITERS[spec["kind"]](folder, spec, hub, rng_for(seed, "paper-mini", name), synth["synthetic"])
        corpus[name] = [(p, r["chosen"], r["rejected"]) for p, r in zip(prompts, recs["train"][:pairs])]
    return folders, corpus


def train_tokenizer(texts, family):
    """Pythia's (byte-level BPE; <|endoftext|> = 0 is bos, eos and unk, <|padding|> = 1) or Llama-2's
    (BPE with byte fallback: <unk> <s> </s>, the 256 byte pieces, the merges; adds <s>, no pad) tokenizer."""
    neox = family == "gpt_neox"
    tokenizer = Tokenizer(BPE() if neox else BPE(unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = (pre_tokenizers.ByteLevel(add_prefix_space=False) if neox
                               else pre_tokenizers.Metaspace(prepend_scheme="first", split=True))
    special = ["<|endoftext|>", "<|padding|>"] if neox else ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600 if neox else 640, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if neox else []))
    trained = json.loads(tokenizer.to_str())["model"]
    vocab, merges = trained["vocab"], [tuple(merge) for merge in trained["merges"]]
    return (GPTNeoXTokenizer(vocab=vocab, merges=merges) if neox else
            LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, legacy=False, padding_side="right"))


def model_config(family, size, tokenizer, is_policy=False):
    """Pythia's or Llama-2's architecture (LLaMA-1's for the policy), 32+16*size wide. Rotary positions:
    the full context costs nothing. Pythia pads its embedding rows to a multiple of 128 (50304 > 50277)."""
    hidden = 32 + 16 * size
    arch = ({"intermediate_size": 4 * hidden, "rotary_pct": 0.25, "use_parallel_residual": True, "hidden_act": "gelu",
             "vocab_size": -(-len(tokenizer) // 128) * 128, "max_position_embeddings": 2048, "layer_norm_eps": 1e-5}
            if family == "gpt_neox" else
            {"intermediate_size": round(hidden * 2.6875), "num_key_value_heads": 4, "hidden_act": "silu", "vocab_size":
             len(tokenizer), "max_position_embeddings": 2048 if is_policy else 4096, "rms_norm_eps": 1e-6 if is_policy else 1e-5})
    return AutoConfig.for_model(family, hidden_size=hidden, num_hidden_layers=2 + size, num_attention_heads=4, **arch,
                                tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def train_lm(model, tokenizer, examples, seed, steps, lr=3e-3, batch_size=16):
    """A plain AdamW causal-LM loop over seeded shuffles of `examples`."""
    rng = rng_for(seed, "paper-mini", "lm")
    order = np.concatenate([rng.permutation(len(examples)) for _ in range(max(1, -(-steps * batch_size // len(examples))))])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for step in range(steps):
        batch = policy.collate(tokenizer, [examples[i] for i in order[step * batch_size:(step + 1) * batch_size]])
        nll, tokens = policy.token_losses(model, *device.inputs_for(model, batch))
        (nll / tokens).backward()
        optimizer.step()
        optimizer.zero_grad()


def write_models(root, paper, corpus, seed, steps):
    """Write every model repository (tokenizer, config, fp32 safetensors); return the folders."""
    pairs = [(prompt, reply) for rows in corpus.values() for prompt, *replies in rows for reply in replies]
    template, texts = paper.get("policy", {}).get("template", "{prompt}"), [p + y for p, y in pairs]
    tokenizers = {"gpt_neox": train_tokenizer(texts, "gpt_neox"), "llama": train_tokenizer(texts + [template] * 50, "llama")}
    # each base's hub model (size k: a family's (k+1)-th base), then the policy's (Alpaca: LLaMA-7B's size)
    bases = list(dict.fromkeys(base["pretrained"] for base in paper["bases"].values() if "pretrained" in base))
    families = [("llama" if "llama" in repo.lower() else "gpt_neox") for repo in bases]  # Pythia, or any other id
    plan = [(repo, families[i], families[:i].count(families[i]), False) for i, repo in enumerate(bases)]
    plan += [(paper["policy"]["pretrained"], "llama", 0, True)] * bool(paper.get("policy", {}).get("pretrained"))
    first_llama = None
    for repo, family, size, is_policy in plan:
        folder = repo_dir(root, "models", repo)
        shutil.rmtree(folder, ignore_errors=True)
        tokenizers[family].save_pretrained(folder)
        tokenizer = models.load_tokenizer({"pretrained": str(folder)})  # as the project loads it
        torch.manual_seed(int(rng_for(seed, "paper-mini", repo).integers(2**31)))
        model = device.build(AutoModelForCausalLM, model_config(family, size, tokenizer, is_policy), training=True)
        if is_policy and first_llama:  # Alpaca starts from LLaMA-7B
            model.load_state_dict(first_llama)
        else:
            train_lm(model, tokenizer, [policy.example_ids(tokenizer, "", t, LM_MAX_LENGTH) for t in texts], seed, steps)
        if is_policy:  # Alpaca's fine-tuning: replies to prompts in its template, the prompts masked
            train_lm(model, tokenizer, [policy.example_ids(tokenizer, policy.render(template, p), y, LM_MAX_LENGTH)
                                        for p, y in pairs], seed, steps)
        elif (family, size) == ("llama", 0):
            first_llama = model.state_dict()
        model.save_pretrained(folder)
    return [repo_dir(root, "models", repo) for repo, *_ in plan]


def build(root, paper, synth, pairs=300, test_pairs=100, seed=42, steps=150, threads=1):
    """Write the whole paper-mini hub under `root`; return [(repo branch folder, files, bytes)]."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the same thread count, the same floating-point sums: the same bytes
    try:
        folders, corpus = write_datasets(root, paper, synth, pairs, test_pairs, seed)
        folders += write_models(root, paper, corpus, seed, steps)
    finally:
        torch.set_num_threads(before)
    files = lambda folder: [f for f in sorted(folder.rglob("*")) if f.is_file()]
    return [(folder, len(files(folder)), sum(f.stat().st_size for f in files(folder))) for folder in folders]
