"""GPU check of the paper world's compute, offline, in one command on a GPU node:

    python scripts/bench_gpu.py --output results/benchmarks/gpu.csv

Architectures come from config files shipped in config/models/ (Pythia-1.4B, LLaMA-7B), weights
are random and texts are random words with HH-like lengths, so nothing is downloaded. It measures,
on one GPU, through the pipeline's own code (models.build_reward_model, trainers.make_trainer,
train.encode_step, train.optimise_step, scoring.score_texts, policy.generate):

- RM training of the 1.4B architecture at max length 512, MultiTask and MORE: tokens/s, MFU,
  peak memory, MORE/MultiTask step time; our settings (bf16, ZeRO-2, the largest batch that
  fits) beside the paper's code's (fp32, 1 pair per source, gradient checkpointing, ZeRO-3 with
  optimizer and parameter offload: config/deepspeed/paper_offload.json);
- scoring with length bucketing against plain batches on those lengths;
- RJS sampling tokens/s of the 7B architecture in bf16, if it fits.

Each measure is appended to the CSV as it completes; a phase that runs out of memory gets rows
noting "did not fit at batch N" and the check goes on. The phases live in more_lib/gpu_check.py.
On a node without a package registry, scripts/gpu_node.sh installs what is missing and runs this.

`--tiny` runs the same code at tiny dimensions on a CPU (CI checks its CSV).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from more_lib import cli, device, gpu_check, gpu_setup, models, policy
from more_lib.benchmarks import SCORING_LAYOUTS, padding_overhead, scoring_speed, timed
from more_lib.gpu_check import SCORING_TARGET
from more_lib.gpu_setup import PRECISION, REPO, architecture, hh_like_records, word_tokenizer


def scoring(world, size, common):
    """The phase of scoring.score_texts on the RM in its inference dtype: bucketed, plain and packed batches."""
    precision = PRECISION[device.weight_dtype(training=False)]
    texts = [r["prompt"] + r[side] for rs in world["records"] for r in rs
             for side in ("chosen", "rejected")][:size["score_texts"]]
    settings = {"max_length": size["max_length"], "score_batch_size": size["score_batch"]}

    def phase(attempt):
        device.release()
        attempt["batch"] = size["score_batch"]
        model = device.place(models.build_reward_model({"config": world["config"]}, world["tokenizer"], 0),
                             training=False)
        per_s = scoring_speed(model, world["tokenizer"], texts, settings, rounds=2, layouts=SCORING_LAYOUTS)
        mean_tokens = np.mean([len(ids) for ids in world["tokenizer"](texts, truncation=True,
                                                                      max_length=size["max_length"])["input_ids"]])
        for layout, speed in per_s.items():
            yield {**common, "measure": "scoring", "settings": layout, "layout": layout, "precision": precision,
                   "sequences": len(texts), "tokens_per_s": speed * mean_tokens}
        ratio = per_s["bucketed"] / per_s["plain"]
        yield {**common, "measure": "scoring_speedup", "ratio": ratio, "target": SCORING_TARGET,
               "meets_target": ratio >= SCORING_TARGET,
               "note": f"plain batches pad {padding_overhead(world['tokenizer'], texts, settings):.2f}x the real tokens"}

    def placeholders(attempt):
        return [*({**common, "measure": "scoring", "settings": s, "precision": precision, "sequences": len(texts)}
                  for s in SCORING_LAYOUTS),
                {**common, "measure": "scoring_speedup", "target": SCORING_TARGET}]

    return phase, placeholders


def sampling(size, common, rng):
    """The phase of RJS sampling (policy.generate with the paper world's settings) of the 7B
    architecture in bf16."""
    config, vocab = architecture(size["policy"])
    tokenizer = word_tokenizer(vocab)
    words = np.array([w for w in tokenizer.get_vocab() if w.startswith("w")])
    prompts = [r["prompt"].strip()
               for r in hh_like_records(rng, "helpful", size["prompts"], size["max_length"], words)]
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["alignment"]["rjs"]
    settings = {**paper["sampling"], **({"max_new_tokens": size["new_tokens"]} if size["new_tokens"] else {})}
    row = {**common, "measure": "rjs_sampling", "settings": f"{paper['samples']} samples per prompt",
           "precision": PRECISION[device.weight_dtype(training=False)],
           "sequences": len(prompts) * paper["samples"]}

    def phase(attempt):
        device.release()
        attempt["batch"] = min(settings["batch_size"], len(prompts)) * paper["samples"]
        model = policy.build_policy({"config": config}, tokenizer, 0, training=False)
        device.reset_peak_memory()
        responses = []
        seconds = timed(lambda: responses.extend(policy.generate(model, tokenizer, prompts, settings, 0,
                                                                 samples=paper["samples"])))
        tokens = sum(len(r.split()) for r in responses)  # one token per word of the word-level tokenizer
        yield {**row, "step_s": seconds, "tokens_per_s": tokens / seconds, "peak_memory_gib": device.peak_memory_gib(),
               "note": f"{tokens} new tokens, at most {settings['max_new_tokens']} per sample"}

    return phase, lambda attempt: [row]


def run_check(output, tiny):
    """Every phase in turn, each row appended to the CSV `output` as it completes; returns the CsvLog."""
    size, rng = gpu_setup.scale(tiny), np.random.default_rng(0)
    common = {"device": device.name(), "peak_tflops": gpu_setup.peak_tflops(device.name())}
    world = gpu_setup.make_world(size, rng)
    log = gpu_setup.CsvLog(output)
    for label in ("ours", "paper"):
        gpu_setup.run_phase(log, gpu_check.training(label, world, size, common),
                            lambda attempt, label=label: gpu_check.training_placeholders(label, common, attempt))
    for row in gpu_check.speedups(log.rows, common):
        log.append(row)
    gpu_setup.run_phase(log, *scoring(world, size, common))
    gpu_setup.run_phase(log, *sampling(size, common, rng))
    return log


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
    gpu_setup.one_rank_world()
    print(gpu_setup.versions(), flush=True)
    log = run_check(args.output, args.tiny)
    print(f"{time.perf_counter() - began:.0f} s in all")
    frame = log.frame()
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(frame.drop(columns=["device", "peak_tflops"]).to_string(index=False))
    print(f"device: {frame.device.iloc[0]} (bf16 peak {frame.peak_tflops.iloc[0]} TFLOPS)")


if __name__ == "__main__":
    cli.run(main)
