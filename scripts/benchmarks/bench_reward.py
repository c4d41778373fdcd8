"""Benchmarks of the reward-model stage, printed as ratios and written as CSVs.

MORE's overhead: the median ratio of MORE's to MultiTask's step time on the same batch (target
≤ 1.02; MORE only adds a K×h head gradient and a K-simplex solve, where the paper's code runs K
extra backward passes on a head copy). Scoring: pairs per second with length bucketing over
plain batches in file order (target ≥ 2; the padding plain batches carry bounds the gain)."""

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from more_lib.benchmarks import reward as reward_bench
from more_lib.core import cli, io


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
    rows = [reward_bench.bench_base(name, base, {**settings, **base.get("reward", {})}, args.train, args.tests, args.seed,
                                    args.steps, args.rounds, args.threads)
            for name, base in json.loads(args.bases).items()]
    for frame, path in zip(map(pd.DataFrame, zip(*rows)), (args.overhead_csv, args.scoring_csv)):
        with io.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
