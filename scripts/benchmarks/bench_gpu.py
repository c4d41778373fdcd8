"""GPU check of the paper world's compute, offline, in one command on a GPU node:

    python scripts/benchmarks/bench_gpu.py --output results/benchmarks/gpu.csv

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
noting "did not fit at batch N" and the check goes on. The phases live in more_lib/benchmarks/gpu_check.py.
On a node without a package registry, scripts/benchmarks/gpu_node.sh installs what is missing and runs this.

`--tiny` runs the same code at tiny dimensions on a CPU (CI checks its CSV).
"""

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch

from more_lib.benchmarks import gpu_check, gpu_setup
from more_lib.core import cli


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
    log = gpu_check.run_check(args.output, args.tiny)
    print(f"{time.perf_counter() - began:.0f} s in all")
    frame = log.frame()
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(frame.drop(columns=["device", "peak_tflops"]).to_string(index=False))
    print(f"device: {frame.device.iloc[0]} (bf16 peak {frame.peak_tflops.iloc[0]} TFLOPS)")


if __name__ == "__main__":
    cli.run(main)
