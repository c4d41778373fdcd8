"""Benchmarks of the reward-model stage, printed as ratios and written as CSVs.

MORE's overhead: the median ratio of MORE's to MultiTask's step time on the same batch (target
≤ 1.02; MORE only adds a K×h head gradient and a K-simplex solve, where the paper's code runs K
extra backward passes on a head copy). Scoring: pairs per second with length bucketing over
plain batches in file order (target ≥ 2; the padding plain batches carry bounds the gain)."""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from more_lib import cli, data, device, io, models, train, trainers
from more_lib.benchmarks import padding_overhead, scoring_speed

OVERHEAD_TARGET = 1.02
SCORING_TARGET = 2.0


def timed_step(trainer, batch, sources, scheme, settings, more_state):
    device.synchronize()  # on a GPU, time the step's queued work, not only its launch
    began = time.perf_counter()
    train.optimise_step(trainer, batch, sources, scheme, more_state, settings)
    device.synchronize()
    return time.perf_counter() - began


def more_overhead(model, tokenizer, records, settings, seed, steps, rounds):
    """Median seconds of a MultiTask and a MORE step, each scheme on its own copy of the model,
    and the median of their ratio on the same batch. The two take each batch back to back, in
    alternating order, so that both see the machine in the same state; round 0 only warms up."""
    sources = [r[0]["source"] for r in records]
    plan = train.step_plan([len(r) for r in records], settings["pairs_per_source"], seed, sources)[:steps]
    by_scheme = {scheme: trainers.make_trainer(copy.deepcopy(model), settings, 0) for scheme in ("multitask", "more")}
    batches = [device.inputs_for(by_scheme["more"].model, train.encode_step(tokenizer, records, idx,
                                                                           settings["max_length"])) for idx in plan]
    states = {scheme: {} for scheme in by_scheme}
    times = {scheme: [] for scheme in by_scheme}
    for r in range(rounds + 1):
        for i, batch in enumerate(batches):
            for scheme in (("multitask", "more") if (r + i) % 2 else ("more", "multitask")):
                took = timed_step(by_scheme[scheme], batch, sources, scheme, settings, states[scheme])
                if r:
                    times[scheme].append(took)
    ratio = np.median(np.array(times["more"]) / np.array(times["multitask"]))
    return {**{scheme: float(np.median(t)) for scheme, t in times.items()}, "ratio": float(ratio)}


def bench_base(name, base, args, settings):
    """One row for each CSV: MORE's step-time overhead and the scoring speed-up on this base."""
    tokenizer = models.load_tokenizer(base)
    model = models.build_reward_model(base, tokenizer, args.seed)
    step = more_overhead(model, tokenizer, [data.read_records(p) for p in args.train], settings, args.seed,
                         args.steps, args.rounds)
    ratio = step["ratio"]
    print(f"{name}: MORE / MultiTask step time = {ratio:.3f} (target <= {OVERHEAD_TARGET})")
    tests = [record for path in args.tests for record in data.read_records(path)]
    texts = [r["prompt"] + r[side] for side in ("chosen", "rejected") for r in tests]
    scorer = device.place(model, training=False)  # as score_rm.py holds it: bf16 on a GPU
    speed = {layout: per_s / 2 for layout, per_s in scoring_speed(scorer, tokenizer, texts, settings,
                                                                  args.rounds).items()}
    speedup = speed["bucketed"] / speed["plain"]
    padding = padding_overhead(tokenizer, texts, settings)
    print(f"{name}: scoring pairs/s bucketed / plain = {speedup:.2f} (target >= {SCORING_TARGET}; "
          f"plain batches pad {padding:.2f}x the real tokens)")
    common = {"base": name, "threads": args.threads, "rounds": args.rounds}
    return ({**common, "sources": len(args.train), "steps": args.steps, "multitask_step_s": step["multitask"],
             "more_step_s": step["more"], "ratio": ratio, "target": OVERHEAD_TARGET,
             "meets_target": ratio <= OVERHEAD_TARGET},
            {**common, "pairs": len(tests), "batch_size": settings["score_batch_size"],
             "plain_pairs_per_s": speed["plain"], "bucketed_pairs_per_s": speed["bucketed"], "plain_padding": padding,
             "ratio": speedup,
             "target": SCORING_TARGET, "meets_target": speedup >= SCORING_TARGET})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bases", required=True, help="JSON: the `bases` config block")
    parser.add_argument("--settings", required=True, help="JSON: the `reward` config block")
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="resampled files, one per source")
    parser.add_argument("--tests", type=Path, nargs="+", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--overhead-csv", type=Path, required=True)
    parser.add_argument("--scoring-csv", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    rows = [bench_base(name, base, args, {**settings, **base.get("reward", {})})
            for name, base in json.loads(args.bases).items()]
    for frame, path in zip(map(pd.DataFrame, zip(*rows)), (args.overhead_csv, args.scoring_csv)):
        with io.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
