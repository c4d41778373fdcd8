"""The reward stage's benchmarks (scripts/benchmarks/bench_reward.py): MORE's overhead, the median ratio of its
step time to MultiTask's on the same batch (target ≤ 1.02), and scoring's speed-up from length
bucketing over plain batches in file order (target ≥ 2)."""

import copy
import time

import numpy as np

from more_lib.benchmarks.timing import padding_overhead, scoring_speed
from more_lib.core import device
from more_lib.data import records as data
from more_lib.reward import models, train, trainers

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


def bench_base(name, base, settings, train_paths, test_paths, seed, steps, rounds, threads):
    """One row for each CSV: MORE's step-time overhead and the scoring speed-up on this base."""
    tokenizer = models.load_tokenizer(base)
    model = models.build_reward_model(base, tokenizer, seed)
    step = more_overhead(model, tokenizer, [data.read_records(p) for p in train_paths], settings, seed,
                         steps, rounds)
    ratio = step["ratio"]
    print(f"{name}: MORE / MultiTask step time = {ratio:.3f} (target <= {OVERHEAD_TARGET})")
    tests = [record for path in test_paths for record in data.read_records(path)]
    texts = [r["prompt"] + r[side] for side in ("chosen", "rejected") for r in tests]
    scorer = device.place(model, training=False)  # as score_rm.py holds it: bf16 on a GPU
    speed = {layout: per_s / 2 for layout, per_s in scoring_speed(scorer, tokenizer, texts, settings,
                                                                  rounds).items()}
    speedup = speed["bucketed"] / speed["plain"]
    padding = padding_overhead(tokenizer, texts, settings)
    print(f"{name}: scoring pairs/s bucketed / plain = {speedup:.2f} (target >= {SCORING_TARGET}; "
          f"plain batches pad {padding:.2f}x the real tokens)")
    common = {"base": name, "threads": threads, "rounds": rounds}
    return ({**common, "sources": len(train_paths), "steps": steps, "multitask_step_s": step["multitask"],
             "more_step_s": step["more"], "ratio": ratio, "target": OVERHEAD_TARGET,
             "meets_target": ratio <= OVERHEAD_TARGET},
            {**common, "pairs": len(tests), "batch_size": settings["score_batch_size"],
             "plain_pairs_per_s": speed["plain"], "bucketed_pairs_per_s": speed["bucketed"], "plain_padding": padding,
             "ratio": speedup,
             "target": SCORING_TARGET, "meets_target": speedup >= SCORING_TARGET})
