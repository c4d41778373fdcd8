"""Post-hoc calibration baseline for one base: every RM's temperature, fitted on held-out training
pairs of its own sources (never a test set), and its ECE, Brier and NLL before and after."""

import argparse
from pathlib import Path

from more_lib import cli, io, tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores-dir", type=Path, required=True, help="test scores: {scheme}/{source}.parquet")
    parser.add_argument("--heldout-dir", type=Path, required=True, help="held-out scores, same layout")
    parser.add_argument("--schemes", nargs="+", required=True, help="SCHEME=SOURCE,SOURCE: an RM and what T is fitted on")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    fit_sources = {scheme: fitted.split(",") for scheme, fitted in (item.split("=", 1) for item in args.schemes)}
    scores = tables.read_scores(args.scores_dir, fit_sources, args.sources)
    heldout = tables.read_scores(args.heldout_dir, fit_sources, args.sources)
    table = tables.calibration_table(args.base, scores, heldout, fit_sources, args.sources, args.ece_bins)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.groupby("scheme", sort=False)[["temperature", "ece", "ece_scaled"]].mean().to_string())


if __name__ == "__main__":
    cli.run(main)
