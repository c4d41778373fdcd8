"""Figure 6's table for one base: ECE and accuracy of MultiTask and MORE trained on the first K
sources (K = 2 … 5) on each focus test source, with Top for reference."""

import argparse
from pathlib import Path

from more_lib.core import cli, io, names
from more_lib.evaluate import tables


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--scores", nargs="+", required=True, help="SCHEME:SOURCE=PATH of each scores file (the focus test sources)")
    parser.add_argument("--mixes", nargs="+", required=True, help="K=MIX for each K of the sweep")
    parser.add_argument("--ece-bins", type=int, required=True)
    parser.add_argument("--tie-credit", type=float, default=0.0, help="credit of a tie in accuracy (0 or 0.5)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    mixes_by_k = {int(k): mix for k, mix in (item.split("=", 1) for item in args.mixes)}
    paths = names.keyed_paths(args.scores, 2)
    table = tables.ksweep_table(args.base, tables.read_scores(paths), tables.keyed_sources(paths), mixes_by_k,
                                args.ece_bins, args.tie_credit)
    with io.atomic_path(args.output) as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    cli.run(main)
