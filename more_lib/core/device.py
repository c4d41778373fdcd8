"""The job's device and precision: the one place that decides where a model runs and in what dtype.

Policy:
- device: this rank's GPU when the job has one, else the CPU. torch only sees the GPUs named in
  CUDA_VISIBLE_DEVICES (SLURM sets it), and under torchrun LOCAL_RANK picks this rank's among them;
- training keeps fp32 weights (the optimiser's master copy); on a GPU the compute is bf16, by
  `autocast()` on the plain path or by DeepSpeed's bf16 mode (see `trainers.make_trainer`);
- inference (scoring, sampling, generation, perplexity) holds bf16 weights on a GPU;
- everything is fp32 on the CPU, where bf16 is slow and the tests compare exact numbers.

Every model is created by `load` (from_pretrained, always with an explicit dtype: transformers 5
defaults to dtype="auto", the checkpoint's own half precision) or `build` (from_config, also with a
dtype: a config.json may name one), and placed by `place`; inputs follow the model with `inputs_for`.
tests/test_device.py audits scripts/ and more_lib/ for any other placement.
"""

import contextlib
import gc
import os
from collections.abc import Mapping

import torch


def job_device():
    """This process's device: cuda:LOCAL_RANK when a GPU is visible, else the CPU."""
    if torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        # later allocations without an index (DeepSpeed, NCCL, autocast) land on this rank's GPU
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def on_gpu():
    return job_device().type == "cuda"


def weight_dtype(training):
    """fp32 master weights for training anywhere; bf16 weights for inference on a GPU."""
    return torch.bfloat16 if on_gpu() and not training else torch.float32


def place(model, training):
    """The model on the job's device in the policy's weight dtype."""
    return model.to(device=job_device(), dtype=weight_dtype(training))


def load(model_class, name_or_path, training, **kwargs):
    """`model_class.from_pretrained` with the policy's dtype, on the job's device."""
    return place(model_class.from_pretrained(name_or_path, dtype=weight_dtype(training), **kwargs), training)


def build(model_class, config, training):
    """A freshly initialised `model_class` from `config`, created on the job's device in the policy's
    dtype (a 7B model is initialised on the GPU in seconds, where the CPU takes minutes)."""
    with job_device():
        model = model_class.from_config(config, dtype=weight_dtype(training))
    return place(model, training)  # whatever device transformers initialised on


def autocast():
    """bf16 compute around a forward pass of fp32 weights on a GPU; nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu() else contextlib.nullcontext()


def inputs_for(model, batch):
    """Token ids, masks, labels (a tuple or a mapping such as a tokenizer's output) on the model's
    device. A DeepSpeed engine and a Hugging Face model both have `.device`."""
    if isinstance(batch, Mapping):
        return {key: inputs_for(model, value) if isinstance(value, list) else value.to(model.device)
                for key, value in batch.items()}
    if isinstance(batch, list):  # a bucketed batch's padded batches (models.bucket)
        return [inputs_for(model, part) for part in batch]
    return tuple(t.to(model.device) for t in batch)


def synchronize():
    """Wait for queued GPU work, so a timer measures it."""
    if on_gpu():
        torch.cuda.synchronize()


def reset_peak_memory():
    if on_gpu():
        torch.cuda.reset_peak_memory_stats()


def total_memory_gib():
    """The GPU's memory; NaN on the CPU."""
    return torch.cuda.get_device_properties(job_device()).total_memory / 2**30 if on_gpu() else float("nan")


def release():
    """Return the memory of models no longer referenced to the GPU, between benchmark phases."""
    gc.collect()
    if on_gpu():
        torch.cuda.empty_cache()


def peak_memory_gib():
    """Peak GPU memory allocated since the last reset; NaN on the CPU (no per-run figure there)."""
    return torch.cuda.max_memory_allocated() / 2**30 if on_gpu() else float("nan")


def name():
    return torch.cuda.get_device_name(job_device()) if on_gpu() else "cpu"
