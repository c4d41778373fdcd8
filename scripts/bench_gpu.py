"""GPU check of the paper world's compute, offline, in one command on a GPU node:

    python scripts/bench_gpu.py --output results/benchmarks/gpu.csv

Architectures come from config files shipped in config/models/ (Pythia-1.4B, LLaMA-7B), weights
are random and texts are random words with HH-like lengths, so nothing is downloaded. It measures,
on one GPU, through the pipeline's own code (models.build_reward_model, train.make_trainer,
train.encode_step, train.optimise_step, scoring.score_texts, policy.generate):

- RM training of the 1.4B architecture at max length 512, MultiTask and MORE: tokens/s, MFU,
  peak memory, MORE/MultiTask step time; our settings (bf16, ZeRO-2, the largest batch that
  fits) beside the paper's code's (fp32, 1 pair per source, gradient checkpointing, ZeRO-3 with
  optimizer and parameter offload: config/deepspeed/paper_offload.json);
- scoring with length bucketing against plain batches on those lengths;
- RJS sampling tokens/s of the 7B architecture in bf16, if it fits.

`--tiny` runs the same code at tiny dimensions on a CPU (CI checks its CSV).
"""

import argparse
import math
import os
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from bench_reward import padding_overhead, scoring_speed

from more_lib import cli, device, io, models, policy, train

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["helpful", "harmless", "oasst1", "webgpt", "summ"]
# Dense bf16 tensor-core peaks (NVIDIA data sheets), matched in this order against the device name.
PEAK_BF16_TFLOPS = [("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0)]
MFU_TARGET, SPEEDUP_TARGET, OVERHEAD_TARGET, SCORING_TARGET = 0.45, 3.0, 1.02, 2.0
MEMORY_BUDGET = 0.9  # share of the GPU's memory the batch search may plan to fill
COLUMNS = ["device", "peak_tflops", "measure", "settings", "scheme", "precision", "zero", "pairs_per_source",
           "sequences", "step_s", "tokens_per_s", "mfu", "mfu_padded", "peak_memory_gib", "ratio", "target",
           "meets_target", "note"]
# What the tokenizer supplies to build_reward_model/build_policy, so a config file must not repeat it.
TOKENIZER_KEYS = {"vocab_size", "bos_token_id", "eos_token_id", "pad_token_id"}
PRECISION = {torch.bfloat16: "bf16", torch.float32: "fp32"}


def scale(tiny):
    """Sizes of the run: the GPU check, or the same code path at CI size on a CPU."""
    if tiny:
        return {"rm": "tiny-gpt-neox", "policy": "tiny-llama", "max_length": 64, "steps": 2, "paper_steps": 1,
                "max_pairs": 2, "score_texts": 48, "score_batch": 8, "prompts": 4, "new_tokens": 8}
    return {"rm": "pythia-1.4b", "policy": "llama-7b", "max_length": 512, "steps": 6, "paper_steps": 3,
            "max_pairs": 64, "score_texts": 2048, "score_batch": 32, "prompts": 32, "new_tokens": None}


def peak_tflops(device_name):
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in device_name), math.nan)


def architecture(name):
    """(config dict without what the tokenizer sets, vocabulary size) of config/models/NAME.json."""
    config = io.read_json(REPO / "config" / "models" / f"{name}.json")
    return {k: v for k, v in config.items() if k not in TOKENIZER_KEYS}, config["vocab_size"]


def word_tokenizer(vocab_size):
    """A word-level tokenizer with exactly `vocab_size` ids (one token per word), set up as the
    reward models' (right padding, truncation from the left)."""
    words = [f"w{i}" for i in range(vocab_size - len(models.SPECIAL_TOKENS))]
    tokenizer = models.train_word_tokenizer([" ".join(words)])
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    return tokenizer


def hh_like_records(rng, source, n, max_length, vocab_words):
    """n preference pairs of random words, lengths shaped like HH dialogues in Pythia tokens at
    max length L = 512: prompts of median 0.3 L, responses of median 0.12 L, log-normal tails; texts
    of median 235 tokens, about 10 % longer than L (truncated from the left, as in training)."""
    def words(median, sigma):
        length = int(np.clip(median * rng.lognormal(0.0, sigma), 1, 2 * max_length))
        return " ".join(rng.choice(vocab_words, length)) + " "

    return [{"id": f"{source}-{i}", "source": source, "prompt": words(0.3 * max_length, 0.8),
             "chosen": words(0.12 * max_length, 0.7), "rejected": words(0.12 * max_length, 0.7)}
            for i in range(n)]


def matmul_params(model):
    """Parameters that multiply every token (the linear layers; embeddings are lookups)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def training_flops(lengths, params, config):
    """Model FLOPs of a training step on sequences of these lengths: 6 N per token for the matmuls,
    forward and backward, plus 12 L h s per token for attention scores and values (PaLM's formula;
    recomputation under gradient checkpointing is not counted, as MFU prescribes)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    return float((6 * params * lengths + 12 * layers * hidden * lengths**2).sum())


def rm_settings(deepspeed_config, pairs, max_length):
    """The `reward` block of the paper config, with this run's ZeRO config and batch."""
    return {"lr": 1e-6, "weight_decay": 0.0, "deepspeed": deepspeed_config, "pairs_per_source": pairs,
            "max_length": max_length, "more": {"alpha": 0.99, "normalize": "l2"}}


def paper_deepspeed():
    """The paper's code's ZeRO settings. DeepSpeed's CPU Adam (its optimizer under offload) is a C++
    op compiled on first use, about a minute; where it cannot be built (a CPU, as in CI, or no
    compiler) torch's AdamW runs on the offloaded fp32 states instead, and the CSV's note says so."""
    config = io.read_json(REPO / "config" / "deepspeed" / "paper_offload.json")
    if device.on_gpu():
        try:
            from deepspeed.ops.op_builder import CPUAdamBuilder

            CPUAdamBuilder().load()
            return config, "DeepSpeed CPU Adam"
        except Exception as error:  # noqa: BLE001 - any build failure means the same fallback
            print(f"CPU Adam unavailable ({error!r}); torch AdamW on the CPU instead")
    del config["optimizer"]
    config["zero_force_ds_cpu_optimizer"] = False
    return config, "torch AdamW on the CPU"


def timed(step, *args):
    """Seconds of step(*args), queued GPU work included."""
    device.synchronize()
    began = time.perf_counter()
    step(*args)
    device.synchronize()
    return time.perf_counter() - began


def probe(trainer, tokenizer, long_records, pairs, max_length):
    """Peak memory (GiB) of one MORE step on `pairs` full-length pairs per source; None when it
    does not fit."""
    device.reset_peak_memory()
    batch = device.inputs_for(trainer.model, train.encode_step(tokenizer, long_records,
                                                               [range(pairs)] * len(SOURCES), max_length))
    try:
        train.optimise_step(trainer, batch, SOURCES, "more", {}, rm_settings(None, pairs, max_length))
    except torch.OutOfMemoryError:
        return None
    return device.peak_memory_gib()


def largest_batch(new_trainer, tokenizer, long_records, size):
    """(trainer, pairs per source): the largest batch whose full-length step fits. Doubles from 1
    while the memory, linear in the batch, is predicted to fit, then tries the largest count the line
    allows. A trainer that ran out of memory is replaced (its state is not trusted after that)."""
    trainer, peaks, budget = new_trainer(None), {}, MEMORY_BUDGET * device.total_memory_gib()
    pairs = 1
    while pairs <= size["max_pairs"]:
        peak = probe(trainer, tokenizer, long_records, pairs, size["max_length"])
        if peak is None:
            trainer = new_trainer(trainer)
            break
        peaks[pairs] = peak
        if pairs > 1:
            slope = (peak - peaks[pairs // 2]) / (pairs // 2)
            if peak + slope * pairs > budget:  # the next doubling would not fit
                best = min(size["max_pairs"], int(pairs + (budget - peak) / slope))
                if best > pairs and probe(trainer, tokenizer, long_records, best, size["max_length"]) is not None:
                    return trainer, best
                return (trainer if best <= pairs else new_trainer(trainer)), pairs
        pairs *= 2
    if not peaks:
        raise RuntimeError("one pair per source does not fit on this GPU")
    return trainer, max(peaks)


def measure_training(trainer, tokenizer, records, pairs, steps, max_length, flops_of):
    """Time MultiTask and MORE steps on the same HH-like batches, on one trainer, in alternating
    order; round 0 warms up. Returns per scheme: seconds, real and padded tokens, FLOPs per step."""
    plan = train.step_plan([len(r) for r in records], pairs, 0, SOURCES)[:steps + 1]
    measured = {scheme: [] for scheme in ("multitask", "more")}
    states = {scheme: {} for scheme in measured}
    device.reset_peak_memory()
    for r, indices in enumerate(plan):
        batch = device.inputs_for(trainer.model, train.encode_step(tokenizer, records, indices, max_length))
        lengths = batch[1].sum(dim=1).tolist()
        for scheme in (("multitask", "more") if r % 2 else ("more", "multitask")):
            seconds = timed(train.optimise_step, trainer, batch, SOURCES, scheme, states[scheme],
                            rm_settings(None, pairs, max_length))
            if r:
                measured[scheme].append({"seconds": seconds, "tokens": sum(lengths),
                                         "padded": len(lengths) * max(lengths), "flops": flops_of(lengths),
                                         "padded_flops": flops_of([max(lengths)] * len(lengths))})
    return {scheme: pd.DataFrame(rows) for scheme, rows in measured.items()}, device.peak_memory_gib()


def training_rows(label, measured, peak_memory, pairs, common, setup):
    peak = common["peak_tflops"] * 1e12
    rows = []
    for scheme, m in measured.items():
        mfu = m.flops.sum() / m.seconds.sum() / peak
        rows.append({**common, **setup, "measure": "rm_training", "settings": label, "scheme": scheme,
                     "pairs_per_source": pairs, "sequences": 2 * pairs * len(SOURCES),
                     "step_s": m.seconds.median(), "tokens_per_s": m.tokens.sum() / m.seconds.sum(), "mfu": mfu,
                     "mfu_padded": m.padded_flops.sum() / m.seconds.sum() / peak, "peak_memory_gib": peak_memory,
                     # no verdict where the device's peak is unknown (the CPU)
                     **({"target": MFU_TARGET, "meets_target": mfu >= MFU_TARGET if np.isfinite(mfu) else None}
                        if label == "ours" else {})})
    ratio = float(np.median(measured["more"].seconds / measured["multitask"].seconds))
    rows.append({**common, **setup, "measure": "more_overhead", "settings": label, "ratio": ratio,
                 "target": OVERHEAD_TARGET, "meets_target": ratio <= OVERHEAD_TARGET})
    return rows


def bench_training(label, config, tokenizer, records, long_records, size, common):
    """Rows of one RM-training setting: 'ours' (bf16, ZeRO-2, the largest batch) or 'paper'."""
    base = {"config": config}

    def new_model():
        device.release()
        return models.build_reward_model(base, tokenizer, 0)

    model = new_model()
    params = matmul_params(model)

    def flops_of(lengths):
        return training_flops(lengths, params, config)

    if label == "ours":
        zero = str(REPO / "config" / "deepspeed" / "zero2.json")

        def new_trainer(old):
            if old is not None:  # free the old engine's memory before the new one takes its own
                old.engine.destroy()
                old.model = old.engine = None
            return train.make_trainer(new_model(), rm_settings(zero, 1, size["max_length"]), 2 * len(SOURCES))

        del model
        trainer, pairs = largest_batch(new_trainer, tokenizer, long_records, size)
        setup = {"precision": "bf16" if device.on_gpu() else "fp32", "zero": "2", "note": "torch AdamW"}
        steps = size["steps"]
    else:
        zero, optimizer = paper_deepspeed()
        model.activation_checkpointing_enable()
        pairs = 1
        trainer = train.make_trainer(model, rm_settings(zero, pairs, size["max_length"]), 2 * len(SOURCES))
        setup = {"precision": "fp32", "zero": "3 + offload (optimizer, parameters)",
                 "note": f"gradient checkpointing; {optimizer}"}
        steps = size["paper_steps"]
    print(f"{label}: {pairs} pairs per source", flush=True)
    measured, peak_memory = measure_training(trainer, tokenizer, records, pairs, steps, size["max_length"], flops_of)
    trainer.engine.destroy()
    return training_rows(label, measured, peak_memory, pairs, common, setup)


def bench_scoring(config, tokenizer, records, size, common):
    """Bucketed against plain batches, scoring.score_texts on the RM in its inference dtype."""
    device.release()
    model = device.place(models.build_reward_model({"config": config}, tokenizer, 0), training=False)
    texts = [r["prompt"] + r[side] for r in records for side in ("chosen", "rejected")][:size["score_texts"]]
    settings = {"max_length": size["max_length"], "score_batch_size": size["score_batch"]}
    per_s = scoring_speed(model, tokenizer, texts, settings, rounds=2)
    mean_tokens = np.mean([len(ids) for ids in tokenizer(texts, truncation=True,
                                                            max_length=size["max_length"])["input_ids"]])
    rows = [{**common, "measure": "scoring", "settings": "bucketed" if bucketing else "plain",
             "precision": PRECISION[device.weight_dtype(training=False)],
             "sequences": len(texts), "tokens_per_s": speed * mean_tokens}
            for bucketing, speed in per_s.items()]
    ratio = per_s[True] / per_s[False]
    rows.append({**common, "measure": "scoring_speedup", "ratio": ratio, "target": SCORING_TARGET,
                 "meets_target": ratio >= SCORING_TARGET,
                 "note": f"plain batches pad {padding_overhead(tokenizer, texts, settings):.2f}x the real tokens"})
    return rows


def bench_sampling(size, common, rng):
    """RJS sampling (policy.generate with the paper world's settings) of the 7B architecture in bf16."""
    device.release()
    config, vocab = architecture(size["policy"])
    tokenizer = word_tokenizer(vocab)
    words = list(tokenizer.get_vocab())
    prompts = [r["prompt"].strip() for r in hh_like_records(rng, "helpful", size["prompts"], size["max_length"],
                                                            np.array([w for w in words if w.startswith("w")]))]
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["alignment"]["rjs"]
    settings = {**paper["sampling"], **({"max_new_tokens": size["new_tokens"]} if size["new_tokens"] else {})}
    row = {**common, "measure": "rjs_sampling", "settings": f"{paper['samples']} samples per prompt",
           "precision": PRECISION[device.weight_dtype(training=False)],
           "sequences": len(prompts) * paper["samples"]}
    try:
        model = policy.build_policy({"config": config}, tokenizer, 0, training=False)
        device.reset_peak_memory()
        responses = []
        seconds = timed(lambda: responses.extend(policy.generate(model, tokenizer, prompts, settings, 0,
                                                                 samples=paper["samples"])))
    except torch.OutOfMemoryError:
        return [{**row, "note": "did not fit"}]
    tokens = sum(len(r.split()) for r in responses)  # one token per word of the word-level tokenizer
    return [{**row, "step_s": seconds, "tokens_per_s": tokens / seconds, "peak_memory_gib": device.peak_memory_gib(),
             "note": f"{tokens} new tokens, at most {settings['max_new_tokens']} per sample"}]


def speedups(rows):
    """Our settings' tokens/s over the paper's, per scheme."""
    tps = {(r["settings"], r["scheme"]): r["tokens_per_s"] for r in rows if r["measure"] == "rm_training"}
    out = []
    for scheme in ("multitask", "more"):
        ratio = tps["ours", scheme] / tps["paper", scheme]
        out.append({**{k: rows[0][k] for k in ("device", "peak_tflops")}, "measure": "speedup_over_paper",
                    "scheme": scheme, "ratio": ratio, "target": SPEEDUP_TARGET, "meets_target": ratio >= SPEEDUP_TARGET})
    return out


def one_rank_world():
    """Environment of a one-rank torchrun, so make_trainer takes its DeepSpeed path as a 1-GPU job does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        os.environ.setdefault(key, value)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="tiny models and lengths: the CPU run of CI")
    # every core by default: the paper's settings run Adam on the CPU, and torch's thread count also
    # caps the OpenMP threads of DeepSpeed's CPU Adam in this process
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    one_rank_world()
    size, rng = scale(args.tiny), np.random.default_rng(0)
    common = {"device": device.name(), "peak_tflops": peak_tflops(device.name())}
    config, vocab = architecture(size["rm"])
    tokenizer = word_tokenizer(vocab)
    vocab_words = np.array([w for w in tokenizer.get_vocab() if w.startswith("w")])
    pairs_needed = size["max_pairs"] * (size["steps"] + 1)
    records = [hh_like_records(rng, s, pairs_needed, size["max_length"], vocab_words) for s in SOURCES]
    # the batch search's worst case: every text as long as the max length
    long_prompt = " ".join(vocab_words[:size["max_length"]]) + " "
    long_records = [[{**r, "prompt": long_prompt} for r in rs] for rs in records]
    rows = [*bench_training("ours", config, tokenizer, records, long_records, size, common),
            *bench_training("paper", config, tokenizer, records, long_records, size, common)]
    rows += speedups(rows)
    rows += bench_scoring(config, tokenizer, [r for rs in records for r in rs], size, common)
    rows += bench_sampling(size, common, rng)
    print(f"{time.perf_counter() - began:.0f} s in all")
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    with io.atomic_path(args.output) as tmp:
        frame.to_csv(tmp, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(frame.drop(columns=["device", "peak_tflops"]).to_string(index=False))
    print(f"device: {common['device']} (bf16 peak {common['peak_tflops']} TFLOPS)")


if __name__ == "__main__":
    cli.run(main)
