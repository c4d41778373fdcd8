"""Post-hoc calibration baseline for one base: every RM's temperature, fitted on held-out training
pairs of its own sources (never a test set), and its ECE, Brier and NLL before and after."""

import argparse
from pathlib import Path

from more_lib.core import cli, io, names
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file on the test split")
    parser.add_argument("--heldout", nargs="+", required=True, help="SCHEME:SOURCE=PATH on the held-out pairs")
    parser.add_argument("--fits", nargs="+", required=True, help="SCHEME=SOURCE,SOURCE: an RM and what T is fitted on")
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--tie-credit", type=float, default=0.0, help="credit of a tie in accuracy (0 or 0.5)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    fit_sources = {scheme: fitted.split(",") for scheme, fitted in (item.split("=", 1) for item in args.fits)}
    paths = names.keyed_paths(args.scores, 2)
    scores, heldout = tables.read_scores(paths), tables.read_scores(names.keyed_paths(args.heldout, 2))
    table = tables.calibration_table(args.base, scores, heldout, fit_sources, tables.keyed_sources(paths), args.ece_bins,
                                     args.tie_credit)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.groupby("scheme", sort=False)[["temperature", "ece", "ece_scaled"]].mean().to_string())


if __name__ == "__main__":
    cli.run(main)
