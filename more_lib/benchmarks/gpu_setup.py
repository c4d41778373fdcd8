"""What the GPU check (scripts/benchmarks/bench_gpu.py, more_lib/benchmarks/gpu_check.py) is made of: its sizes, the
devices' peaks, architectures and texts that need no download, FLOPs, ZeRO settings, the memory it
counts, its batch search, and a CSV written as it goes, one phase at a time, out-of-memory included."""

import csv
import math
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from more_lib.core import device, io
from more_lib.reward import models

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["helpful", "harmless", "oasst1", "webgpt", "summ"]
# Dense BF16 tensor-core peaks in TFLOPS, matched in this order against the device name (so "GH200"
# before "H200", "H100 NVL" before "H100"); another device gets NaN. The data sheets give the figures
# with sparsity, twice these: NVIDIA H100 Tensor Core GPU data sheet (H100 SXM 1,979, H100 PCIe 1,513,
# H100 NVL 1,671), NVIDIA H200 Tensor Core GPU data sheet (H200 SXM 1,979, H200 NVL 1,671), NVIDIA H800
# data sheet (H800 SXM5 1,979, H800 PCIe 1,513), NVIDIA GH200 Grace Hopper Superchip data sheet
# (1,979), NVIDIA A100 and A800 data sheets (624, SXM and PCIe alike).
PEAK_BF16_TFLOPS = [("GH200", 989.0), ("H200 NVL", 835.5), ("H200", 989.0), ("H100 NVL", 835.5),
                    ("H100 PCIe", 756.0), ("H100", 989.0), ("H800 PCIe", 756.0), ("H800", 989.0),
                    ("A100", 312.0), ("A800", 312.0)]
# The batch search plans the device's whole use (PyTorch's reserved memory and what lies outside its
# allocator) to stay under this share of its memory: the rest is headroom for what a step does not
# show in a probe (NCCL buffers of a first collective, allocator fragmentation growing over steps).
MEMORY_BUDGET = 0.9
COLUMNS = ["device", "peak_tflops", "measure", "settings", "layout", "scheme", "precision", "zero", "pairs_per_source",
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


def versions():
    """One line: Python, torch (with its CUDA), transformers and DeepSpeed, with where DeepSpeed lies."""
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    where = metadata.distribution("deepspeed").locate_file("") if version("deepspeed") != "absent" else "-"
    return (f"Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
            f"transformers {version('transformers')}, deepspeed {version('deepspeed')} ({where}), {sys.executable}")


def one_rank_world():
    """Environment of a one-rank torchrun, so make_trainer takes its DeepSpeed path as a 1-GPU job does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)}.items():
        os.environ.setdefault(key, value)


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


def make_world(size, rng):
    """The reward model's architecture and word tokenizer, HH-like pairs per source, and the batch
    search's worst case: the same pairs with every text as long as the max length."""
    config, vocab = architecture(size["rm"])
    tokenizer = word_tokenizer(vocab)
    vocab_words = np.array([w for w in tokenizer.get_vocab() if w.startswith("w")])
    pairs_needed = size["max_pairs"] * (size["steps"] + 1)
    records = [hh_like_records(rng, s, pairs_needed, size["max_length"], vocab_words) for s in SOURCES]
    long_prompt = " ".join(vocab_words[:size["max_length"]]) + " "
    long_records = [[{**r, "prompt": long_prompt} for r in rs] for rs in records]
    return {"config": config, "tokenizer": tokenizer, "records": records, "long_records": long_records}


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


def enable_checkpointing(model):
    """Gradient (activation) checkpointing under the name this transformers has: transformers 5.17
    has only gradient_checkpointing_enable; later releases add activation_checkpointing_enable and
    keep the former as a deprecated alias (a FutureWarning)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    return model


def memory_gib():
    """The device memory a step used, as the batch search counts it: PyTorch's peak reserved memory
    (the caching allocator's, fragmentation included) plus what lies outside that allocator now (the
    CUDA context, NCCL and library buffers). NaN on the CPU."""
    if not device.on_gpu():
        return math.nan
    accelerator = torch.accelerator
    if not all(hasattr(accelerator, f) for f in ("get_memory_info", "memory_reserved", "max_memory_reserved")):
        return device.peak_memory_gib()  # an older torch without these: the allocated peak alone
    free, total = accelerator.get_memory_info()
    outside = total - free - accelerator.memory_reserved()
    return (accelerator.max_memory_reserved() + outside) / 2**30


def memory_budget_gib():
    return MEMORY_BUDGET * device.total_memory_gib()


def largest_fit(fits, budget, most):
    """The largest batch (≤ most) whose step fits in `budget`; None when not even 1 fits.

    fits(n): the memory a step of batch n used, or None when it ran out. Doubles from 1 while the
    memory, linear in the batch, predicts that the next doubling fits, then tries the largest batch
    the line allows. Unknown memory (NaN, a CPU) never stops the doubling."""
    peaks, n = {}, 1
    while n <= most:
        peak = fits(n)
        if peak is None:
            break
        if peak > budget and peaks:  # it ran, but with no headroom left
            break
        peaks[n] = peak
        if n > 1:
            slope = (peak - peaks[n // 2]) / (n // 2)
            if peak + slope * n > budget:  # the next doubling would not fit
                best = min(most, int(n + (budget - peak) / slope))
                return best if best > n and (fits(best) or math.inf) <= budget else n
        n *= 2
    return max(peaks, default=None)


def is_out_of_memory(error):
    """The allocator's OutOfMemoryError, or a library's allocation failure surfacing as a RuntimeError
    (cuBLAS, NCCL)."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and any(s in str(error) for s in ("out of memory", "ALLOC_FAILED")))


class CsvLog:
    """The check's CSV: the header at once, then each row appended and flushed to disk as its measure
    completes, so a run that stops halfway keeps every measure it made."""

    def __init__(self, path):
        self.path, self.rows = Path(path), []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerow(COLUMNS)

    def append(self, row):
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not a column of the GPU check's CSV: {sorted(unknown)}")
        self.rows.append(row)
        with self.path.open("a", newline="") as f:
            pd.DataFrame([row]).reindex(columns=COLUMNS).to_csv(f, header=False, index=False)
            f.flush()
            os.fsync(f.fileno())

    def frame(self):
        return pd.read_csv(self.path)


def _key(row):
    return row.get("measure"), row.get("settings"), row.get("scheme")


def run_phase(log, phase, placeholders):
    """Append the rows that `phase(attempt)` yields, each as it completes. A phase records the batch it
    is running in attempt["batch"] (sequences per forward); if the device runs out of memory, each row
    of `placeholders(attempt)` that the phase had not written yet is appended with the note "did not
    fit at batch N", and the check goes on with its next phase. Other errors propagate. Returns
    whether the phase completed."""
    attempt, written = {"batch": None}, set()
    try:
        for row in phase(attempt):
            log.append(row)
            written.add(_key(row))
        return True
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        print(f"out of memory at batch {attempt['batch']}: {str(error).splitlines()[0]}", flush=True)
    device.release()  # outside the except block: the traceback's frames and their tensors are gone
    note = "did not fit" + (f" at batch {attempt['batch']}" if attempt["batch"] else "")
    for row in placeholders(attempt):
        if _key(row) not in written:
            log.append({**row, "note": note})
    return False
