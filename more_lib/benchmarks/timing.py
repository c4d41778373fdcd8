"""Timing helpers shared by the CPU benchmarks (scripts/benchmarks/bench_reward.py) and the GPU check
(more_lib/benchmarks/gpu_check.py)."""

import time

import numpy as np

from more_lib.core import device
from more_lib.reward import models, scoring


def timed(step, *args):
    """Seconds of step(*args), queued GPU work included."""
    device.synchronize()
    began = time.perf_counter()
    step(*args)
    device.synchronize()
    return time.perf_counter() - began


def padding_overhead(tokenizer, texts, settings):
    """Padded tokens over real tokens in plain batches: the most bucketing can save."""
    lengths = np.array([len(ids) for ids in tokenizer(texts, truncation=True,
                                                       max_length=settings["max_length"])["input_ids"]])
    batches = models.length_batches(lengths, settings["score_batch_size"], bucketing=False)
    return sum(len(b) * lengths[b].max() for b in batches) / lengths.sum()


# How a scoring batch is laid out: (length bucketing, packed).
SCORING_LAYOUTS = {"bucketed": (True, False), "plain": (False, False), "packed": (True, True)}


def scoring_speed(model, tokenizer, texts, settings, rounds, layouts=("bucketed", "plain")):
    """Texts per second of each of `layouts` (SCORING_LAYOUTS; best of the rounds)."""
    seconds = {layout: [] for layout in layouts}
    for _ in range(rounds):
        for layout, took in seconds.items():
            bucketing, packed = SCORING_LAYOUTS[layout]
            took.append(timed(scoring.score_texts, model, tokenizer, texts, settings["max_length"],
                              settings["score_batch_size"], bucketing, layout, packed))
    return {layout: len(texts) / min(s) for layout, s in seconds.items()}
