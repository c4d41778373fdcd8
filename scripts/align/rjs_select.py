"""Keep the best of S samples per prompt under one reward model (eq. 3's training set), and say
how good the choice is: RM reward and, in the synthetic world, true reward of the kept samples
against the mean of all samples."""

import argparse
import json
from pathlib import Path

import pandas as pd

from more_lib.align import rjs
from more_lib.core import cli, io
from more_lib.core.errors import DataError


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--world", default="{}", help="JSON: the synthetic world ({} for hub data: no oracle)")
    parser.add_argument("--drifts", default="{}", help="JSON: source -> drift, for the oracle")
    parser.add_argument("--label", nargs=2, metavar=("BASE", "SCHEME"), required=True)
    parser.add_argument("--selected", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    args = parser.parse_args()
    samples, scores = pd.read_parquet(args.samples), pd.read_parquet(args.scores)
    if not samples[["id", "sample"]].equals(scores[["id", "sample"]]):
        raise DataError(f"{args.scores}: rows do not match the samples in {args.samples}; rerun its scoring")
    world, drifts = json.loads(args.world), json.loads(args.drifts)
    oracle = rjs.oracle_rewards(samples, world, drifts) if world else None
    summary = rjs.selection_summary(samples, scores["reward"], oracle)
    summary.insert(0, "scheme", args.label[1])
    summary.insert(0, "base", args.label[0])
    with io.atomic_path(args.selected) as tmp:
        rjs.best_of(samples, scores["reward"]).to_parquet(tmp, index=False)
    with io.atomic_path(args.summary) as tmp:
        summary.to_csv(tmp, index=False)
    print(summary.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
