"""Accuracy and calibration of every reward model of one base on every test source (tidy CSV)."""

import argparse
from pathlib import Path

from more_lib.core import cli, io, names
from more_lib.evaluate import length_bias, tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file")
    parser.add_argument("--bins", type=int, nargs="+", required=True)
    parser.add_argument("--tie-credit", type=float, default=0.0, help="credit of a tie in accuracy (0 or 0.5)")
    parser.add_argument("--tests", nargs="+", required=True, help="SOURCE=PATH of each test set (response lengths)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    paths = names.keyed_paths(args.scores, 2)
    lengths = {source: length_bias.pair_lengths(path) for source, path in names.keyed_paths(args.tests, 1).items()}
    scores = tables.read_scores(paths, {source: frame["id"] for source, frame in lengths.items()})
    table = tables.metrics_table(args.base, scores, tables.keyed_sources(paths), args.bins, args.tie_credit, lengths)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table[table.test_source == "all"][["scheme", "accuracy", f"ece_{args.bins[0]}", "length_corr"]]
          .to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
