"""The GPU check's RM-training phases (scripts/benchmarks/bench_gpu.py): our settings and the paper's, through
the pipeline's own code (models.build_reward_model, trainers.make_trainer, train.encode_step,
train.optimise_step), with the batch search, MFU and the speed-up over the paper's settings.
A phase is a generator of CSV rows run by gpu_setup.run_phase: its rows reach the CSV as they
complete, and running out of memory ends that phase alone. Then scoring (bucketed, plain and packed
batches) and RJS sampling of the 7B architecture; `run_check` runs every phase in turn."""

import math

import numpy as np
import pandas as pd
import torch
import yaml

from more_lib.align import policy
from more_lib.benchmarks import gpu_setup
from more_lib.benchmarks.gpu_setup import (
    PRECISION,
    REPO,
    SOURCES,
    architecture,
    enable_checkpointing,
    hh_like_records,
    is_out_of_memory,
    largest_fit,
    matmul_params,
    memory_budget_gib,
    memory_gib,
    paper_deepspeed,
    rm_settings,
    training_flops,
    word_tokenizer,
)
from more_lib.benchmarks.timing import SCORING_LAYOUTS, padding_overhead, scoring_speed, timed
from more_lib.core import device
from more_lib.reward import models, train, trainers

MFU_TARGET, SPEEDUP_TARGET, OVERHEAD_TARGET, SCORING_TARGET = 0.45, 3.0, 1.02, 2.0
SCHEMES = ("multitask", "more")
SETUPS = {"ours": {"zero": "2"}, "paper": {"precision": "fp32", "zero": "3 + offload (optimizer, parameters)"}}
# Our settings are measured on padded and packed (padding-free) batches; the paper's code pads.
LAYOUTS = {"ours": ("padded", "packed"), "paper": ("padded",)}


def text_lengths(batch):
    """The real tokens of each text of a padded or packed batch (models.encode_texts)."""
    if "ends" in batch:
        return torch.diff(batch["ends"], prepend=batch["ends"].new_tensor([-1])).tolist()
    return batch["attention_mask"].sum(dim=1).tolist()


def probe(trainer, world, pairs, size, attempt):
    """The device memory (GiB, gpu_setup.memory_gib) of one MORE step on `pairs` full-length pairs
    per source; None when it ran out."""
    batch = device.inputs_for(trainer.model, train.encode_step(world["tokenizer"], world["long_records"],
                                                               [range(pairs)] * len(SOURCES), size["max_length"]))
    attempt["batch"] = len(text_lengths(batch))
    device.reset_peak_memory()
    try:
        train.optimise_step(trainer, batch, SOURCES, "more", {}, rm_settings(None, pairs, size["max_length"]))
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        return None
    return memory_gib()


def measure_training(trainer, world, pairs, steps, size, flops_of, attempt, layouts=("padded",)):
    """Time MultiTask and MORE steps on the same HH-like batches, each laid out as `layouts` says,
    on one trainer, in alternating order; round 0 warms up. Returns per (scheme, layout): seconds,
    real tokens, FLOPs of the real tokens and of the tokens the step computes (padding included)."""
    records = world["records"]
    plan = train.step_plan([len(r) for r in records], pairs, 0, SOURCES)[:steps + 1]
    measured = {(scheme, layout): [] for scheme in SCHEMES for layout in layouts}
    states = {key: {} for key in measured}
    device.reset_peak_memory()
    for r, indices in enumerate(plan):
        for layout in layouts:
            batch = device.inputs_for(trainer.model, train.encode_step(world["tokenizer"], records, indices,
                                                                       size["max_length"], packed=layout == "packed"))
            lengths = text_lengths(batch)
            attempt["batch"] = len(lengths)
            computed = lengths if layout == "packed" else [max(lengths)] * len(lengths)
            for scheme in (("multitask", "more") if r % 2 else ("more", "multitask")):
                seconds = timed(train.optimise_step, trainer, batch, SOURCES, scheme, states[scheme, layout],
                                rm_settings(None, pairs, size["max_length"]))
                if r:
                    measured[scheme, layout].append({"seconds": seconds, "tokens": sum(lengths),
                                                     "flops": flops_of(lengths), "padded_flops": flops_of(computed)})
    return {key: pd.DataFrame(rows) for key, rows in measured.items()}, device.peak_memory_gib()


def training_rows(label, measured, peak_memory, pairs, common, setup):
    peak = common["peak_tflops"] * 1e12
    rows = []
    for (scheme, layout), m in measured.items():
        mfu = m.flops.sum() / m.seconds.sum() / peak
        rows.append({**common, **setup, "measure": "rm_training", "settings": label, "layout": layout, "scheme": scheme,
                     "pairs_per_source": pairs, "sequences": 2 * pairs * len(SOURCES),
                     "step_s": m.seconds.median(), "tokens_per_s": m.tokens.sum() / m.seconds.sum(), "mfu": mfu,
                     "mfu_padded": m.padded_flops.sum() / m.seconds.sum() / peak, "peak_memory_gib": peak_memory,
                     # no verdict where the device's peak is unknown (the CPU)
                     **({"target": MFU_TARGET, "meets_target": mfu >= MFU_TARGET if np.isfinite(mfu) else None}
                        if label == "ours" else {})})
    for layout in LAYOUTS[label]:
        ratio = float(np.median(measured["more", layout].seconds / measured["multitask", layout].seconds))
        rows.append({**common, **setup, "measure": "more_overhead", "settings": label, "layout": layout,
                     "ratio": ratio, "target": OVERHEAD_TARGET, "meets_target": ratio <= OVERHEAD_TARGET})
    return rows


def training_placeholders(label, common, attempt):
    pairs = attempt.get("pairs")
    fields = {**common, **SETUPS[label], "settings": label, "pairs_per_source": pairs,
              "sequences": pairs and 2 * pairs * len(SOURCES)}
    return [*({**fields, "measure": "rm_training", "layout": layout, "scheme": scheme}
              for layout in LAYOUTS[label] for scheme in SCHEMES),
            *({**fields, "measure": "more_overhead", "layout": layout} for layout in LAYOUTS[label])]


def _destroy(trainer):
    """Free a DeepSpeed engine's memory before the next one takes its own."""
    trainer.engine.destroy()
    trainer.model = trainer.engine = None


def training(label, world, size, common):
    """The phase of one RM-training setting: 'ours' (bf16, ZeRO-2, the largest batch whose
    full-length step fits) or 'paper' (fp32, 1 pair per source, gradient checkpointing, ZeRO-3 with
    optimizer and parameter offload)."""
    config, tokenizer = world["config"], world["tokenizer"]

    def new_model():
        device.release()
        return models.build_reward_model({"config": config}, tokenizer, 0)

    def phase(attempt):
        model = new_model()
        params = matmul_params(model)
        if label == "ours":
            zero = str(REPO / "config" / "deepspeed" / "zero2.json")

            def new_trainer(old):
                if old is not None:
                    _destroy(old)
                return trainers.make_trainer(new_model(), rm_settings(zero, 1, size["max_length"]), 2 * len(SOURCES))

            def fits(pairs):
                """A trainer that ran out of memory is replaced: its state is not trusted after that."""
                nonlocal trainer
                attempt["pairs"] = pairs
                used = probe(trainer, world, pairs, size, attempt)
                if used is None:
                    trainer = new_trainer(trainer)
                return used

            del model
            trainer = new_trainer(None)
            pairs = largest_fit(fits, memory_budget_gib(), size["max_pairs"])
            if pairs is None:
                _destroy(trainer)
                raise torch.OutOfMemoryError("one pair per source does not fit")
            setup = {**SETUPS[label], "precision": "bf16" if device.on_gpu() else "fp32", "note": "torch AdamW"}
            steps = size["steps"]
        else:
            zero, optimizer = paper_deepspeed()
            pairs = 1
            attempt.update(pairs=pairs, batch=2 * pairs * len(SOURCES))
            trainer = trainers.make_trainer(enable_checkpointing(model), rm_settings(zero, pairs, size["max_length"]),
                                         2 * len(SOURCES))
            setup = {**SETUPS[label], "note": f"gradient checkpointing; {optimizer}"}
            steps = size["paper_steps"]
        attempt.update(pairs=pairs, batch=2 * pairs * len(SOURCES))
        print(f"{label}: {pairs} pairs per source", flush=True)
        try:
            measured, peak_memory = measure_training(trainer, world, pairs, steps, size,
                                                     lambda lengths: training_flops(lengths, params, config), attempt,
                                                     LAYOUTS[label])
        finally:
            _destroy(trainer)
        yield from training_rows(label, measured, peak_memory, pairs, common, setup)

    return phase


def speedups(rows, common):
    """Our settings' tokens/s (packed batches) over the paper's, per scheme (no verdict where either
    did not fit)."""
    tps = {(r["settings"], r.get("layout"), r["scheme"]): r.get("tokens_per_s", math.nan) for r in rows
           if r["measure"] == "rm_training"}
    for scheme in SCHEMES:
        ratio = tps.get(("ours", "packed", scheme), math.nan) / tps.get(("paper", "padded", scheme), math.nan)
        row = {**common, "measure": "speedup_over_paper", "layout": "packed", "scheme": scheme, "ratio": ratio,
               "target": SPEEDUP_TARGET}
        yield ({**row, "meets_target": ratio >= SPEEDUP_TARGET} if np.isfinite(ratio)
               else {**row, "note": "not measured: a setting did not fit"})


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
        gpu_setup.run_phase(log, training(label, world, size, common),
                            lambda attempt, label=label: training_placeholders(label, common, attempt))
    for row in speedups(log.rows, common):
        log.append(row)
    gpu_setup.run_phase(log, *scoring(world, size, common))
    gpu_setup.run_phase(log, *sampling(size, common, rng))
    return log
