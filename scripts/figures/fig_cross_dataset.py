"""Figure 1 (diversified preferences). Left: accuracy of the raw RM and of each single-source RM
(rows) on each test source (columns); boxed cells are RMs tested on their own source. Middle: the
distribution of each RM's reward difference d = r(chosen) - r(rejected) on one test source
(harmless in the paper). Right: |d| on that source for correctly ranked pairs (d > 0, filled boxes)
and wrongly ranked ones (d <= 0, hollow boxes)."""

import argparse
from pathlib import Path

from more_lib.core import cli, names
from more_lib.evaluate import tables
from more_lib.figures import cross_dataset as fig_cross_dataset
from more_lib.figures import plotting


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file: the raw and single-source RMs on every source")
    parser.add_argument("--focus", default="harmless", help="test source of the middle and right panels")
    parser.add_argument("--tie-credit", type=float, default=0.0, help="credit of a tie in accuracy (0 or 0.5)")
    parser.add_argument("--output", type=Path, nargs="+", required=True, help="the figure's .png and .pdf files")
    args = parser.parse_args()
    paths = names.keyed_paths(args.scores, 2)
    sources = tables.keyed_sources(paths)
    if args.focus not in sources:
        parser.error(f"--focus {args.focus} is not one of the scored test sources")
    plotting.save(fig_cross_dataset.plot(plotting.load_scores(paths), sources, args.focus, args.tie_credit), args.output)


if __name__ == "__main__":
    cli.run(main)
